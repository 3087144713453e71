#!/bin/sh
# A MariaDB for the mysql tests of lad (root, no password, loopback only), printed as its port:
#   port=$(scripts/mysql-test-server.sh)      reuse or start one; print its port on stdout
#   scripts/mysql-test-server.sh stop         stop the one this script started, remove its data
# Then run the tests with LAD_TEST_MYSQL_PORT=$port.
#
# A good guest: a server this script did not start is only used, never changed. When one
# already answers on 127.0.0.1:3306 as root without a password (a CI image, a developer's
# throw-away server), its port is printed and nothing on it is touched (the tests create and
# drop their own randomly named databases). Otherwise the script starts its own server on
# another port (LAD_MYSQL_PORT, default 3307) with its own data folder, socket and pid file in
# $STATE_DIR, as the current user; a system MariaDB, its data and its users stay as they are.
#
# What it installs: when `mariadbd` or the `mariadb` client is missing, the Debian packages
# mariadb-server-core and mariadb-client-core (apt-get, needs root). These hold the server and
# client programs only, with no service, so installing them starts nothing.
# Idempotent: the instance recorded in $STATE_DIR is reused while it answers. LAD_MYSQL_OWN=1
# skips the server on 3306 and always uses (or starts) the script's own.
set -eu
STATE_DIR=${LAD_MYSQL_STATE_DIR:-${TMPDIR:-/tmp}/lad-mysql-test-server}
PORT=${LAD_MYSQL_PORT:-3307}

answers() { mariadb -h127.0.0.1 -P"$1" -uroot --connect-timeout=2 -e 'select 1' >/dev/null 2>&1; }
ours_alive() { [ -f "$STATE_DIR/pid" ] && kill -0 "$(cat "$STATE_DIR/pid")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
    if ours_alive; then
        pid=$(cat "$STATE_DIR/pid")
        kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
    fi
    rm -rf "$STATE_DIR"
    exit 0
fi

install() {
    echo "mysql-test-server: installing $* (Debian packages, apt-get)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
find_server() {
    for p in /usr/sbin/mariadbd /usr/sbin/mysqld; do
        if [ -x "$p" ]; then echo "$p"; return 0; fi
    done
    command -v mariadbd 2>/dev/null || return 1
}
command -v mariadb >/dev/null 2>&1 || install mariadb-client-core

# 1. A server someone else runs, usable as it is: use it, change nothing.
#    (LAD_MYSQL_OWN=1 skips this and always uses a server of the script's own.)
if [ "${LAD_MYSQL_OWN:-0}" != 1 ] && answers 3306; then
    echo 3306
    exit 0
fi
# 2. Ours, from an earlier run.
if ours_alive && answers "$PORT"; then
    echo "$PORT"
    exit 0
fi
# 3. Start our own.
find_server >/dev/null || install mariadb-server-core
SERVER=$(find_server)
INSTALL_DB=$(command -v mariadb-install-db || command -v mysql_install_db)

if ours_alive; then kill "$(cat "$STATE_DIR/pid")" 2>/dev/null || true; sleep 1; fi
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR/data"
user=$(id -un)
echo "mysql-test-server: starting a MariaDB of its own on 127.0.0.1:$PORT (data in $STATE_DIR)" >&2
"$INSTALL_DB" --no-defaults --user="$user" --datadir="$STATE_DIR/data" \
    --auth-root-authentication-method=normal --skip-test-db >"$STATE_DIR/install.log" 2>&1 || {
    echo "mysql-test-server: mariadb-install-db failed; its log:" >&2
    cat "$STATE_DIR/install.log" >&2
    exit 1
}
nohup "$SERVER" --no-defaults --user="$user" --datadir="$STATE_DIR/data" \
    --bind-address=127.0.0.1 --port="$PORT" --socket="$STATE_DIR/mysqld.sock" \
    --pid-file="$STATE_DIR/mysqld.pid" --skip-name-resolve --innodb-buffer-pool-size=256M \
    >"$STATE_DIR/log" 2>&1 &
echo $! >"$STATE_DIR/pid"
i=0
until answers "$PORT"; do
    i=$((i + 1))
    if [ "$i" -ge 120 ] || ! ours_alive; then
        echo "mysql-test-server: MariaDB did not answer on 127.0.0.1:$PORT; its log:" >&2
        cat "$STATE_DIR/log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "$PORT"
