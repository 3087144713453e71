#!/usr/bin/env bash
# Starts an osmem-server (an in-memory OpenSearch-compatible server for tests, MIT, from PyPI's
# osmem-server: a test tool only, never a dependency of lad) for the lad es tests, installing it
# into a virtual environment first when missing.
# Idempotent: when the instance recorded in $STATE_DIR still answers, it is reused.
# Prints the port on stdout; use it as LAD_TEST_ES_URL=http://127.0.0.1:PORT.
#   scripts/es-test-server.sh          start (or reuse) and print the port
#   scripts/es-test-server.sh stop     stop it
# The tests write only to clones of it (POST /_osmem/clones), one per test.
set -eu
STATE_DIR=${LAD_ES_STATE_DIR:-${TMPDIR:-/tmp}/lad-es-test-server}
VENV=${LAD_OSMEM_VENV:-/var/tmp/lad-osmem-venv}
VERSION=0.1.6
PORT=${LAD_ES_PORT:-19217}

find_bin() {
    local b
    for b in "$VENV"/lib/python*/site-packages/osmem_server/bin/osmem-server; do
        if [ -x "$b" ]; then echo "$b"; return 0; fi
    done
    return 1
}

if [ "${1:-}" = stop ]; then
    if [ -f "$STATE_DIR/pid" ]; then kill "$(cat "$STATE_DIR/pid")" 2>/dev/null || true; fi
    rm -rf "$STATE_DIR"
    exit 0
fi

answers() {
    [ -f "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null &&
        (echo >"/dev/tcp/127.0.0.1/$(cat "$STATE_DIR/port")") 2>/dev/null
}

if answers; then cat "$STATE_DIR/port"; exit 0; fi

if ! BIN=$(find_bin); then
    echo "installing osmem-server $VERSION into $VENV..." >&2
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q "osmem-server==$VERSION" >&2
    BIN=$(find_bin)
fi

if [ -f "$STATE_DIR/pid" ]; then kill "$(cat "$STATE_DIR/pid")" 2>/dev/null || true; fi
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"
nohup "$BIN" -addr "127.0.0.1:$PORT" -no-stdin-watch >"$STATE_DIR/log" 2>&1 </dev/null &
echo $! >"$STATE_DIR/pid"
echo "$PORT" >"$STATE_DIR/port"
i=0
while ! (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 150 ] || ! kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null; then
        echo "osmem-server did not start; its log:" >&2; cat "$STATE_DIR/log" >&2; exit 1
    fi
    sleep 0.2
done
echo "$PORT"
