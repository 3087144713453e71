#!/bin/sh
# Makes sure a MariaDB answers on 127.0.0.1:3306 (root, no password, database `test`) for the
# mysql tests of lad-store: installs mariadb-server where missing, starts it, waits for it.
set -eu

ping_server() { mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; }

if ping_server; then
    mariadb -h127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'
    exit 0
fi
if [ ! -x /usr/sbin/mariadbd ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server
fi
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld 2>/dev/null || true
start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql \
    --bind-address=127.0.0.1 --port=3306
i=0
until ping_server; do
    i=$((i + 1))
    if [ "$i" -ge 60 ]; then
        echo "MariaDB did not answer on 127.0.0.1:3306 within 60 s" >&2
        exit 1
    fi
    sleep 1
done
# Root over TCP with no password (a fresh Debian install uses unix_socket auth for root).
mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" 2>/dev/null || true
mariadb -h127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'
echo "MariaDB is up on 127.0.0.1:3306"
