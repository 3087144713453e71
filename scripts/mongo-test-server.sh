#!/usr/bin/env bash
# Starts a secantusd-rs server (a MongoDB-compatible test server, GPL-2.0: a test tool only, never
# a dependency of lad) for the lad-store MongoDB tests, installing it first when missing.
# What it installs, only when missing: secantus-mdb with `cargo install` (into ~/.cargo/bin,
# built in its own folder) and, for that build, Debian's cmake (apt-get, needs root).
# Idempotent: when the instance recorded in $STATE_DIR still answers, it is reused.
# Prints the port on stdout; use it as LAD_TEST_MONGO_URI=mongodb://127.0.0.1:PORT.
#   scripts/mongo-test-server.sh          start (or reuse) and print the port
#   scripts/mongo-test-server.sh stop     stop it and remove its data
set -eu
STATE_DIR=${LAD_MONGO_STATE_DIR:-${TMPDIR:-/tmp}/lad-mongo-test-server}
VERSION=0.5.3-beta.196
PORT=${LAD_MONGO_PORT:-27917}

find_bin() {
    if command -v secantusd-rs >/dev/null 2>&1; then command -v secantusd-rs
    elif [ -x "$HOME/.cargo/bin/secantusd-rs" ]; then echo "$HOME/.cargo/bin/secantusd-rs"
    else return 1; fi
}

if [ "${1:-}" = stop ]; then
    if [ -f "$STATE_DIR/pid" ]; then kill "$(cat "$STATE_DIR/pid")" 2>/dev/null || true; fi
    rm -rf "$STATE_DIR"
    exit 0
fi

alive() {
    [ -f "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null
}

if alive; then cat "$STATE_DIR/port"; exit 0; fi

if ! BIN=$(find_bin); then
    echo "installing secantusd-rs $VERSION (several minutes)..." >&2
    if ! command -v cmake >/dev/null 2>&1; then
        echo "mongo-test-server: installing cmake (Debian package, apt-get) to build it" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake >&2
    fi
    # Its own build folder, not the project's CARGO_TARGET_DIR.
    env -u CARGO_TARGET_DIR cargo install secantus-mdb --version "$VERSION" --locked \
        --ignore-rust-version >&2
    BIN=$(find_bin)
fi

rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR/data"
nohup "$BIN" --host 127.0.0.1 --port "$PORT" --storage-path "$STATE_DIR/data" \
    --cache-size 512M --log-level WARNING >"$STATE_DIR/log" 2>&1 &
echo $! >"$STATE_DIR/pid"
echo "$PORT" >"$STATE_DIR/port"
i=0
while ! (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! alive; then
        echo "secantusd-rs did not start; its log:" >&2; cat "$STATE_DIR/log" >&2; exit 1
    fi
    sleep 0.2
done
echo "$PORT"
