#!/usr/bin/env bash
# The daemon's throughput target (issue 3): on 2 cores, score a backlog of 1,000,000 records
# over 8 hosts in SQLite at >= 50,000 records/s end to end (read, score, write) with resident
# memory under 1 GiB.
#
# Generates the records from the loghub samples (crates/lad/examples/gen_logs.rs), imports them,
# trains one model per host, then times `lad detect` over the whole backlog (the same batch loop
# `lad run` runs) with /usr/bin/time, pinned to 2 cores. Prints records/s and peak RSS.
#
# Usage: scripts/bench-daemon.sh [WORK_DIR]   (env: RECORDS, HOSTS, RAW_DIR, CORES;
# PERF=1 profiles the scoring run with perf instead; PHASES=1 times each phase of every batch)
#
# FRESH=1: the scored lines are newer than the training window, as in a running daemon, so the
# pattern observer mines every one (in the default run every scored line is in its model's
# window and the observer only classifies it). The oldest FRESH_SHARE percent (default 20) of
# the records are imported, trained on and scored (not timed); then the rest is imported and
# the same backlog is scored three times from one copy of the store: `lad detect` end to end,
# and the batch loop of examples/detect_phases with and without the observer (time per phase).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/var/tmp/lad-bench}
RECORDS=${RECORDS:-1000000}
HOSTS=${HOSTS:-8}
RAW_DIR=${RAW_DIR:-$ROOT/../shared/data/loghub/raw}
[ -d "$RAW_DIR" ] || RAW_DIR=/work/shared/data/loghub/raw
CORES=${CORES:-0,1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build --release -p lad --bin lad --example gen_logs --manifest-path "$ROOT/Cargo.toml" >&2
LAD=$TARGET/release/lad
GEN=$TARGET/release/examples/gen_logs

mkdir -p "$WORK"
rm -rf "$WORK/lad.db" "$WORK/lad.db-wal" "$WORK/lad.db-shm" "$WORK/models"
cat > "$WORK/bench.yaml" <<YAML
SQLITE_PATH: $WORK/lad.db
MODEL_BASE_DIR: $WORK/models
PARALLELISM: 2
TRAIN_MAX_ENTRIES: 20000
HTTP_ADDR: 127.0.0.1:0
YAML

if [ ! -s "$WORK/logs-$RECORDS-$HOSTS.jsonl" ]; then
  echo "generating $RECORDS records over $HOSTS hosts" >&2
  "$GEN" --raw-dir "$RAW_DIR" --out "$WORK/logs-$RECORDS-$HOSTS.jsonl" --records "$RECORDS" \
    --hosts "$HOSTS" --seed 7 --span-s 86400
fi
LOGS="$WORK/logs-$RECORDS-$HOSTS.jsonl"
if [ "${FRESH:-0}" = 1 ]; then
  cargo build --release -p lad --example detect_phases --manifest-path "$ROOT/Cargo.toml" >&2
  PHASE_BIN=$TARGET/release/examples/detect_phases
  OLD=$(( RECORDS * ${FRESH_SHARE:-20} / 100 ))
  # gen_logs writes the records in time order: the head is the past, the tail is new.
  head -n "$OLD" "$LOGS" > "$WORK/old.jsonl"
  tail -n +"$(( OLD + 1 ))" "$LOGS" > "$WORK/new.jsonl"
  echo "importing, training on and scoring the oldest $OLD records" >&2
  "$LAD" -q import -c "$WORK/bench.yaml" --source bench "$WORK/old.jsonl"
  taskset -c "$CORES" "$LAD" -q train -c "$WORK/bench.yaml"
  taskset -c "$CORES" "$LAD" -q detect -c "$WORK/bench.yaml"
  "$LAD" -q import -c "$WORK/bench.yaml" --source bench "$WORK/new.jsonl"
  rm -rf "$WORK/snapshot" && mkdir -p "$WORK/snapshot"
  cp -a "$WORK"/lad.db* "$WORK/models" "$WORK/snapshot/"
  restore() {
    rm -rf "$WORK"/lad.db* "$WORK/models"
    cp -a "$WORK"/snapshot/* "$WORK/"
  }
  NEW=$(( RECORDS - OLD ))
  la() { cut -d' ' -f1-3 /proc/loadavg; }
  restore
  /usr/bin/time -o "$WORK/time.txt" -f '%e %M' taskset -c "$CORES" "$LAD" detect -c "$WORK/bench.yaml" 2> "$WORK/detect.log"
  read -r SECS RSS_KIB < "$WORK/time.txt"
  awk -v n="$NEW" -v s="$SECS" -v rss="$RSS_KIB" -v la="$(la)" 'BEGIN {
    printf "lad detect, %d records newer than the training window: %.2f s, %.0f records/s; peak RSS %.0f MiB (load average %s)\n",
      n, s, n / s, rss / 1024, la }'
  restore
  echo "batch loop with the observer (load average $(la)):"
  taskset -c "$CORES" "$PHASE_BIN" "$WORK/bench.yaml"
  restore
  echo "batch loop without the observer (load average $(la)):"
  taskset -c "$CORES" "$PHASE_BIN" "$WORK/bench.yaml" --no-observer
  exit 0
fi
echo "importing" >&2
/usr/bin/time -f 'import: %e s, peak RSS %M KiB' "$LAD" -q import -c "$WORK/bench.yaml" \
  --source bench "$LOGS"
echo "training" >&2
/usr/bin/time -f 'train: %e s, peak RSS %M KiB' taskset -c "$CORES" "$LAD" -q train -c "$WORK/bench.yaml"

echo "scoring the backlog on cores $CORES" >&2
DETECT=(taskset -c "$CORES" "$LAD" detect -c "$WORK/bench.yaml")
if [ "${PHASES:-0}" = 1 ]; then
  # The same batch loop with a timer around each phase (store read, scoring, verdict write).
  cargo build --release -p lad --example detect_phases --manifest-path "$ROOT/Cargo.toml" >&2
  taskset -c "$CORES" "$TARGET/release/examples/detect_phases" "$WORK/bench.yaml"
  exit 0
fi
if [ "${PERF:-0}" = 1 ]; then
  perf record -g -o "$WORK/perf.data" -- "${DETECT[@]}" 2> "$WORK/detect.log"
  perf report -i "$WORK/perf.data" --no-children --percent-limit 1.5 --stdio 2>/dev/null | head -120
  exit 0
fi
/usr/bin/time -o "$WORK/time.txt" -f '%e %M' "${DETECT[@]}" 2> "$WORK/detect.log"
read -r SECS RSS_KIB < "$WORK/time.txt"
# Strip colour codes in case an older lad wrote them to the redirected log.
sed -i 's/\x1b\[[0-9;]*m//g' "$WORK/detect.log"
grep 'detect done' "$WORK/detect.log" >&2 || true
SCORED=$(grep -o 'scored=[0-9]*' "$WORK/detect.log" | tail -1 | cut -d= -f2)
awk -v n="$SCORED" -v s="$SECS" -v rss="$RSS_KIB" -v la="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
  printf "scored %d records in %.2f s: %.0f records/s; peak RSS %.0f MiB (load average %s)\n",
    n, s, n / s, rss / 1024, la
  if (n / s < 50000 || rss > 1048576) { print "BELOW TARGET (>= 50000 records/s, < 1024 MiB)"; exit 1 }
}'
