#!/usr/bin/env bash
# Records per second through Kafka end to end (consume, score, publish verdicts, commit) with one
# `lad run` and with two in one consumer group, and peak memory, on a local Tansu broker
# (scripts/kafka-test-server.sh; in-memory storage, on the same cores as lad).
#
# Generates RECORDS records over HOSTS hosts (crates/lad/examples/gen_logs.rs), produces them to a
# 12-partition topic keyed by host, trains the models once (`lad train` reads the topic's
# history), then for each run starts the instances in a fresh group with KF_VERDICTS: all and
# times them from start until their /metrics count RECORDS verdicts published. Startup and the
# group join (about 3 s on Tansu) are inside the time. Pinned to CORES with taskset (the broker
# too, so the figure is what 2 cores give for broker and lad together). Also prints the CPU time
# lad and the broker each used per record in each run, and the broker's own rate for producing
# the input, so that the share of the 2 cores each side needs can be read off.
#
# Usage: scripts/bench-kafka.sh [WORK_DIR]   (env: RECORDS, HOSTS, RAW_DIR, CORES, NO_BUILD,
# ONE_ONLY: skip the two-instance run, KF_EXTRA: librdkafka options added to KF_LIBRDKAFKA_OPTIONS,
# LAD_BIN: measure that lad binary)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/var/tmp/lad-bench-kafka}
RECORDS=${RECORDS:-1000000}
HOSTS=${HOSTS:-8}
RAW_DIR=${RAW_DIR:-$ROOT/../shared/data/loghub/raw}
[ -d "$RAW_DIR" ] || RAW_DIR=/work/shared/data/loghub/raw
CORES=${CORES:-0,1}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# shellcheck source=scripts/lib/bench-detect.sh
. "$ROOT/scripts/lib/bench-detect.sh" # cpu_seconds

# lad itself in release, without the database drivers (the Kafka path is the same code); the
# generator and the producer are not timed, so the test profile (built by the tests) does.
# NO_BUILD=1 uses the binaries already built.
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --no-default-features --features kafka -p lad --bin lad \
  --manifest-path "$ROOT/Cargo.toml" >&2
[ "${NO_BUILD:-0}" = 1 ] || cargo build --profile test --features kafka -p lad --example gen_logs --example kafka_produce \
  --manifest-path "$ROOT/Cargo.toml" >&2
LAD=${LAD_BIN:-$TARGET/release/lad}
GEN=$TARGET/debug/examples/gen_logs
PRODUCE=$TARGET/debug/examples/kafka_produce

# A broker of its own for the benchmark, pinned to the same cores.
export LAD_KAFKA_STATE_DIR=$WORK/broker LAD_KAFKA_PORT=${LAD_KAFKA_PORT:-19094}
"$ROOT/scripts/kafka-test-server.sh" stop
PORT=$(taskset -c "$CORES" "$ROOT/scripts/kafka-test-server.sh")
BROKERS=127.0.0.1:$PORT
BROKER_PID=$("$ROOT/scripts/kafka-test-server.sh" pid)
trap '"$ROOT/scripts/kafka-test-server.sh" stop' EXIT

mkdir -p "$WORK"
RUN=$(date +%s)
INPUT=bench-$RUN
if [ ! -s "$WORK/logs-$RECORDS-$HOSTS.jsonl" ]; then
  echo "generating $RECORDS records over $HOSTS hosts" >&2
  "$GEN" --raw-dir "$RAW_DIR" --out "$WORK/logs-$RECORDS-$HOSTS.jsonl" --records "$RECORDS" \
    --hosts "$HOSTS" --seed 7 --span-s 86400
fi
b0=$(cpu_seconds "$BROKER_PID"); p0=$(date +%s.%N)
"$PRODUCE" --brokers "$BROKERS" --topic "$INPUT" --partitions 12 \
  --file "$WORK/logs-$RECORDS-$HOSTS.jsonl" \
  --create "v1-$RUN,v2-$RUN,dlq-$RUN,train-$RUN"
python3 -c "import sys; n, w, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f'produce (the input, not timed as lad): {n} records in {w:.2f} s ({n / w:,.0f} records/s), broker CPU {b:.2f} s = {b / n * 1e6:.1f} us/record')" \
  "$RECORDS" "$(echo "$(date +%s.%N) - $p0" | bc)" "$(echo "$(cpu_seconds "$BROKER_PID") - $b0" | bc)" >&2

config() { # name group verdicts http_port parallelism
  cat > "$WORK/$1.yaml" <<YAML
STORAGE_DATASOURCE: kafka
KF_BOOTSTRAP_SERVER: '$BROKERS'
KF_GROUP_ID: '$2'
KF_TOPIC: '$3'
KF_VERDICTS: all
KF_DEAD_LETTER_TOPIC: 'dlq-$RUN'
KF_LIBRDKAFKA_OPTIONS: {session.timeout.ms: 6000, heartbeat.interval.ms: 1000, max.poll.interval.ms: 60000${KF_EXTRA:+, $KF_EXTRA}}
LOG_SOURCES:
  '$INPUT':
MODEL_BASE_DIR: $WORK/models
PARALLELISM: $5
TRAIN_MAX_ENTRIES: 20000
TRAIN_TIME_SPAN: 172800
INFER_TIME_SPAN: 1
RETRAIN_SCHEDULE: '0 0 1 1 *'
HTTP_ADDR: 127.0.0.1:$4
YAML
}

rm -rf "$WORK/models"
config train "train-$RUN" "train-$RUN" 19190 2
/usr/bin/time -f 'train: %e s, peak RSS %M KiB' taskset -c "$CORES" "$LAD" -q train \
  -c "$WORK/train.yaml"

scored() { # port -> lad_lines_scored_total
  { curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } \
    | awk '/^lad_lines_scored_total/ {print $2; f=1} END {if (!f) print 0}'
}

bench() { # label instances
  local label=$1 n=$2
  local group="g$n-$RUN" topic="v$n-$RUN" pids=() ports=() first="" first_n=0
  local par=$((2 / n)); [ "$par" -ge 1 ] || par=1
  local start end total b0 b1 lad_cpu=0
  b0=$(cpu_seconds "$BROKER_PID")
  start=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    config "$label-$i" "$group" "$topic" $((19190 + i)) "$par"
    taskset -c "$CORES" "$LAD" run -c "$WORK/$label-$i.yaml" 2> "$WORK/$label-$i.log" &
    pids+=($!); ports+=($((19190 + i)))
  done
  while :; do
    total=0
    for p in "${ports[@]}"; do total=$((total + $(scored "$p" | cut -d. -f1))); done
    [ -z "$first" ] && [ "$total" -gt 0 ] && first=$(date +%s.%N) && first_n=$total
    [ "$total" -ge "$RECORDS" ] && break
    sleep 0.2
  done
  end=$(date +%s.%N)
  b1=$(cpu_seconds "$BROKER_PID")
  # Peak resident memory (VmHWM) and CPU time of each instance, read before it is stopped.
  local rss=0 r
  for p in "${pids[@]}"; do
    r=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    lad_cpu=$(echo "$lad_cpu + $(cpu_seconds "$p")" | bc)
    kill -TERM "$p" 2>/dev/null || true
  done
  wait || true
  awk -v n="$RECORDS" -v s="$(echo "$end - $start" | bc)" -v rss="$rss" -v l="$label" \
    -v f="$(echo "$end - $first" | bc)" -v fn="$first_n" \
    -v la="$(cut -d' ' -f1-3 /proc/loadavg)" -v lc="$lad_cpu" -v bc="$(echo "$b1 - $b0" | bc)" 'BEGIN {
    printf "%s: %d records in %.2f s from start (group join included): %.0f records/s; from the first verdict on: %.0f records/s; peak RSS per instance %.0f MiB; CPU per record: lad %.1f us, broker %.1f us (load %s)\n",
      l, n, s, n / s, (n - fn) / f, rss / 1024, lc / n * 1e6, bc / n * 1e6, la }'
}

bench one-instance 1
[ -n "${ONE_ONLY:-}" ] || bench two-instances 2
