#!/usr/bin/env bash
# A Prometheus Alertmanager on loopback for lad's alert tests (crates/lad/tests/alerts.rs).
# Installs Debian's `prometheus-alertmanager` when it is missing (apt-get install -y), and starts
# it with clustering off, its storage under STATE_DIR, and a route that forwards every alert
# (one group per alert, group_wait 1s, resolved alerts too) to RECEIVER_URL, a webhook the test
# owns.
#   scripts/alertmanager-test-server.sh install
#       install if missing; print the binary's path (export it as LAD_TEST_ALERTMANAGER)
#   scripts/alertmanager-test-server.sh start RECEIVER_URL [STATE_DIR]
#       start (or reuse, when the instance of STATE_DIR answers) and print its port; a restart
#       after `stop` keeps the port and the storage (silences, notification log)
#   scripts/alertmanager-test-server.sh stop [STATE_DIR]      stop it (SIGTERM), keep its data
#   scripts/alertmanager-test-server.sh purge [STATE_DIR]     stop it and remove STATE_DIR
# STATE_DIR defaults to ${TMPDIR:-/tmp}/lad-alertmanager-test; the port to LAD_AM_PORT, else a
# free one.
set -euo pipefail
cmd=${1:-start}

find_bin() {
    if [ -n "${LAD_TEST_ALERTMANAGER:-}" ] && [ -x "$LAD_TEST_ALERTMANAGER" ]; then
        echo "$LAD_TEST_ALERTMANAGER"
    elif command -v prometheus-alertmanager >/dev/null 2>&1; then
        command -v prometheus-alertmanager
    elif command -v alertmanager >/dev/null 2>&1; then
        command -v alertmanager
    else
        return 1
    fi
}

install() {
    if ! find_bin >/dev/null; then
        echo "installing prometheus-alertmanager with apt-get (Debian package)..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            prometheus-alertmanager >&2
        # The package enables a system service; the tests start their own instances.
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
        fi
    fi
    find_bin
}

alive() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

stop() {
    if alive; then
        pid=$(cat "$dir/pid")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

case "$cmd" in
install)
    install
    ;;
start)
    receiver=${2:?usage: $0 start RECEIVER_URL [STATE_DIR]}
    dir=${3:-${TMPDIR:-/tmp}/lad-alertmanager-test}
    mkdir -p "$dir/data"
    if alive && [ "$(cat "$dir/receiver" 2>/dev/null)" = "$receiver" ]; then
        cat "$dir/port"
        exit 0
    fi
    stop
    bin=$(install)
    if [ ! -f "$dir/port" ]; then
        echo "${LAD_AM_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}" >"$dir/port"
    fi
    port=$(cat "$dir/port")
    echo "$receiver" >"$dir/receiver"
    cat >"$dir/alertmanager.yml" <<EOF
route:
  receiver: lad-test
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: lad-test
    webhook_configs:
      - url: '$receiver'
        send_resolved: true
EOF
    nohup "$bin" --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        --log.level=warn >>"$dir/log" 2>&1 &
    echo $! >"$dir/pid"
    for i in $(seq 200); do
        if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
            echo "$port"
            exit 0
        fi
        if ! alive; then break; fi
        sleep 0.1
    done
    echo "alertmanager did not start on 127.0.0.1:$port; its log:" >&2
    cat "$dir/log" >&2
    exit 1
    ;;
stop)
    dir=${2:-${TMPDIR:-/tmp}/lad-alertmanager-test}
    stop
    ;;
purge)
    dir=${2:-${TMPDIR:-/tmp}/lad-alertmanager-test}
    stop
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 install | start RECEIVER_URL [STATE_DIR] | stop [STATE_DIR] | purge [STATE_DIR]" >&2
    exit 2
    ;;
esac
