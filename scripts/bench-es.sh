#!/usr/bin/env bash
# Times `lad detect` end to end on the es backend: N seeded documents (default 200,000) over 8
# hosts in two indices of a fresh clone of the OpenSearch-compatible test server (osmem-server),
# loaded with `lad import`, models trained with `lad train`, then `lad detect` timed from start
# to exit (reading with search_after, scoring, writing every verdict back with _bulk). Prints
# records/s.
#   scripts/bench-es.sh [N]
# Server: LAD_TEST_ES_URL=http://host:port when set, else scripts/es-test-server.sh; the bench
# works in a clone of it (POST /_osmem/clones), deleted at the end.
# Binary: $LAD when set, else a release build in $CARGO_TARGET_DIR.
# Data, config and timing are shared with scripts/bench-mongo.sh (scripts/lib/bench-detect.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-200000}"
# shellcheck source=lib/bench-detect.sh
. "$ROOT/scripts/lib/bench-detect.sh"
bench_lad

if [ -n "${LAD_TEST_ES_URL:-}" ]; then
    BASE="${LAD_TEST_ES_URL%/}"
else
    BASE="http://127.0.0.1:$("$ROOT/scripts/es-test-server.sh")"
fi
# The server's process, for its CPU time (clones run inside it).
SERVER_PID=${SERVER_PID:-$(pgrep -f "osmem-server.*-addr 127.0.0.1:${BASE##*:}" | head -n 1 || true)}
WORK=$(mktemp -d)
read -r CLONE_ID URL < <(python3 -c '
import json, sys, urllib.request
r = urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_osmem/clones", method="POST"))
c = json.load(r)
print(c["id"], c["url"])' "$BASE")
cleanup() {
    python3 -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="DELETE"))' \
        "$BASE/_osmem/clones/$CLONE_ID" || true
    rm -rf "$WORK"
}
trap cleanup EXIT

{
    cat <<YAML
STORAGE_DATASOURCE: es
STORAGE_DATASINK: es
ES_ENDPOINT: $URL
YAML
    bench_sources_yaml
} >"$WORK/es.yaml"

bench_run "$WORK/es.yaml" es
