#!/usr/bin/env bash
# Incidents (issue 15), measured three ways:
#   demo  : `lad demo`'s seven injected incidents: how many incidents each one's flagged lines
#           joined (goal: 1), incidents of routine lines only in the live hours that opened
#           (goal: 0; pending or expired ones, one info line sent to nobody, are counted apart),
#           flagged lines per incident.
#   bgl   : LogHub BGL 2k with its alert labels: import the first 1,000 lines, train, import the
#           last 1,000, `lad detect` (which forms incidents); per incident, whether it holds an
#           alert line; alerts flagged and how many incidents hold them; lines per incident.
#   daemon: scripts/bench-daemon.sh with INCIDENTS=false, then true (same records): the scoring
#           rate with incidents on must stay within 10% of off.
#   times : the demo at many "now"s (crates/lad/examples/demo_end_times.rs): 24 end times 7 h
#           apart from 2026-11-24T11:00Z, then 24 five hours apart from 2026-11-30T00:53:20Z
#           (across a month change); per run each injected incident's lines and incidents,
#           routine lines flagged and routine incidents; not part of `all`.
#
# Usage: scripts/bench-incidents.sh [all|demo|bgl|daemon|times] [WORK_DIR]
#   env: RECORDS (daemon step, default 1000000), CORES (default 0,1)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
WORK=${2:-/var/tmp/lad-bench-incidents}
LOGHUB=$ROOT/../shared/data/loghub
[ -d "$LOGHUB" ] || LOGHUB=/work/shared/data/loghub
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LAD=${LAD:-$TARGET/release/lad}
mkdir -p "$WORK"

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p lad --bin lad --manifest-path "$ROOT/Cargo.toml" >&2

step_demo() {
  local D="$WORK/demo"
  echo "== demo: lad demo --dir $D" >&2
  "$LAD" --quiet demo --dir "$D" > "$WORK/demo.txt"
  sed -n '/^Injected incidents/,/^Top aggregated/p' "$WORK/demo.txt" | sed '$d'
  (cd "$D" && LAD_SQLITE_PATH="$D/lad.db" LAD_MODEL_BASE_DIR="$D/models" \
    "$LAD" --quiet export --incidents > "$WORK/demo-incidents.jsonl")
  python3 - "$WORK/demo-incidents.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lines = sorted(r.get("count", 0) for r in rows)
by_state = {}
for r in rows:
    by_state[r["state"]] = by_state.get(r["state"], 0) + 1
print(f"demo store: {len(rows)} incidents in all (states {by_state}); lines per incident: "
      f"median {lines[len(lines)//2] if lines else 0}, max {lines[-1] if lines else 0}, "
      f"total {sum(lines)}")
PYEOF
}

step_bgl() {
  local B="$WORK/bgl"
  rm -rf "$B"; mkdir -p "$B"
  echo "== bgl: $LOGHUB/bgl" >&2
  if [ ! -s "$LOGHUB/bgl/bgl_2k_train.jsonl" ]; then
    echo "bgl: SKIPPED, $LOGHUB/bgl is missing" ; return 0
  fi
  cat > "$B/lad.yaml" <<YAML
SQLITE_PATH: $B/lad.db
MODEL_BASE_DIR: $B/models
TRAIN_TIME_SPAN: 1000000000
HTTP_ADDR: 127.0.0.1:0
YAML
  "$LAD" -q import -c "$B/lad.yaml" --source bgl "$LOGHUB/bgl/bgl_2k_train.jsonl"
  "$LAD" -q train -c "$B/lad.yaml"
  "$LAD" -q import -c "$B/lad.yaml" --source bgl "$LOGHUB/bgl/bgl_2k_test.jsonl"
  "$LAD" -q detect -c "$B/lad.yaml"
  "$LAD" -q export -c "$B/lad.yaml" --anomalies > "$B/anomalies.jsonl"
  "$LAD" -q export -c "$B/lad.yaml" --incidents > "$B/incidents.jsonl"
  "$LAD" -q export -c "$B/lad.yaml" > "$B/all.jsonl"
  python3 - "$B" <<'PYEOF'
import json, sys
b = sys.argv[1]
recs = [json.loads(l) for l in open(f"{b}/all.jsonl")]
test = [r for r in recs if r.get("line", 0) > 1000]
alerts = sum(1 for r in test if r.get("label") == 1)
an = [json.loads(l) for l in open(f"{b}/anomalies.jsonl")]
an_test = [a for a in an if a.get("line", 0) > 1000]
flagged_alerts = [a for a in an_test if a.get("label") == 1]
inc_of = {}
for a in an_test:
    inc_of.setdefault(a.get("incident_id"), []).append(a)
state = {}
for l in open(f"{b}/incidents.jsonl"):
    i = json.loads(l)
    state[i["id"]] = i["state"]
def never_opened(i):
    return state.get(i) in ("pending", "expired")
linked = {i: v for i, v in inc_of.items() if i is not None}
incs = {i: v for i, v in linked.items() if not never_opened(i)}
quiet = {i: v for i, v in linked.items() if never_opened(i)}
with_alert = [i for i, v in incs.items() if any(a.get("label") == 1 for a in v)]
without = [i for i, v in incs.items() if not any(a.get("label") == 1 for a in v)]
quiet_alert = [i for i, v in quiet.items() if any(a.get("label") == 1 for a in v)]
unlinked = len(inc_of.get(None, []))
sizes = sorted(len(v) for v in incs.values())
print(f"bgl test half: {len(test)} lines, {alerts} alert lines; {len(an_test)} flagged "
      f"({len(flagged_alerts)} alerts), {unlinked} without an incident")
print(f"bgl incidents of the test half that opened: {len(incs)}; {len(with_alert)} hold alert "
      f"lines, {len(without)} hold none; flagged lines per incident: median "
      f"{sizes[len(sizes)//2] if sizes else 0}, max {sizes[-1] if sizes else 0}")
print(f"bgl pending or expired (one info line, sent to nobody): {len(quiet)}, "
      f"{len(quiet_alert)} of them hold an alert line")
PYEOF
}

step_daemon() {
  echo "== daemon: scripts/bench-daemon.sh, incidents off then on" >&2
  for on in false true; do
    echo -n "INCIDENTS=$on: "
    LAD_INCIDENTS=$on "$ROOT/scripts/bench-daemon.sh" "$WORK/daemon" 2>"$WORK/daemon-$on.log" \
      | grep 'scored' || { tail -5 "$WORK/daemon-$on.log"; true; }
  done
}

step_times() {
  echo "== times: demo_end_times at 48 end times" >&2
  cargo build --release --quiet -p lad --example demo_end_times --manifest-path "$ROOT/Cargo.toml" >&2
  local ex="$TARGET/release/examples/demo_end_times"
  "$ex" 24 7 1795518000000 | tail -n 1 || true
  "$ex" 24 5 1796000000000 | tail -n 1 || true
}

case "$WHAT" in
  all) step_demo; step_bgl; step_daemon ;;
  demo|bgl|daemon|times) "step_$WHAT" ;;
  *) echo "usage: scripts/bench-incidents.sh [all|demo|bgl|daemon|times] [WORK_DIR]" >&2; exit 2 ;;
esac
