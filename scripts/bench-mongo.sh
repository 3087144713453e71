#!/usr/bin/env bash
# Times `lad detect` end to end on the mg backend: N seeded documents (default 200,000) over 8
# hosts in two collections of a fresh database on the MongoDB wire-protocol test server, loaded
# with `lad import`, models trained with `lad train`, then `lad detect` timed from start to exit
# (reading, scoring, writing every verdict back). Prints records/s.
#   scripts/bench-mongo.sh [N]
# Server: LAD_TEST_MONGO_URI=mongodb://host:port when set, else scripts/mongo-test-server.sh
# (which installs its server when missing; see its header).
# Binary: $LAD when set, else a release build in $CARGO_TARGET_DIR.
# Data, config and timing are shared with scripts/bench-es.sh (scripts/lib/bench-detect.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-200000}"
# shellcheck source=lib/bench-detect.sh
. "$ROOT/scripts/lib/bench-detect.sh"
bench_lad

if [ -n "${LAD_TEST_MONGO_URI:-}" ]; then
    hostport="${LAD_TEST_MONGO_URI#mongodb://}"
    hostport="${hostport%%/*}"
    HOST="${hostport%:*}"
    PORT="${hostport##*:}"
else
    HOST=127.0.0.1
    PORT=$("$ROOT/scripts/mongo-test-server.sh")
    trap '"$ROOT/scripts/mongo-test-server.sh" stop' EXIT
fi
# The server's process, for its CPU time.
SERVER_PID=${SERVER_PID:-$(pgrep -f "secantusd-rs .*--port $PORT" | head -n 1 || true)}

WORK=$(mktemp -d)
DB="lad_bench_$$"
{
    cat <<YAML
STORAGE_DATASOURCE: mg
STORAGE_DATASINK: mg
MG_HOST: $HOST
MG_PORT: $PORT
MG_DB: "$DB"
YAML
    bench_sources_yaml
} >"$WORK/multihost.yaml"

bench_run "$WORK/multihost.yaml" mg
rm -rf "$WORK"
