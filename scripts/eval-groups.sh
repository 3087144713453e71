#!/usr/bin/env bash
# Grouping accuracy of lad-core's `group` on the 16 LogHub 2k sets, scored by pyref eval-groups.
# Usage: scripts/eval-groups.sh [dbscan]   (env: DATA, PYREF, OUT_DIR, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/loghub/groups}
[ -d "$DATA" ] || DATA=/work/shared/data/loghub/groups
PYREF=${PYREF:-$(dirname "$DATA")/../../pyref/pyref}
OUT_DIR=${OUT_DIR:-/tmp/lad-eval-groups}
if [ ! -d "$DATA" ]; then echo "no data folder $DATA, skipping" >&2; exit 0; fi
mkdir -p "$OUT_DIR"
cargo build -q --release -p lad-core --example group_eval
BIN=${CARGO_TARGET_DIR:-target}/release/examples/group_eval
sum=0; n=0
printf '%-12s %6s\n' dataset ga
for f in "$DATA"/*.jsonl; do
  name=$(basename "$f" .jsonl)
  "$BIN" "$f" "$OUT_DIR/$name.jsonl" "$@" 2>/dev/null
  ga=$("$PYREF" eval-groups --pred "$OUT_DIR/$name.jsonl" | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["ga"])')
  printf '%-12s %6s\n' "$name" "$ga"
  sum=$(python3 -c "print($sum + $ga)"); n=$((n + 1))
done
python3 -c "print('%-12s %6.4f' % ('average', $sum / $n))"
