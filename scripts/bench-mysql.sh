#!/usr/bin/env bash
# Times `lad detect` end to end against MariaDB with an old-style input table: loads ROWS rows
# (default 200,000) over 8 hosts into a fresh database, trains on 2,000 routine lines per host,
# then times one `lad detect` and prints records/s. The database is dropped at the end.
#
#   LAD_BIN=target/release/lad ROWS=200000 scripts/bench-mysql.sh
#
# Needs the `mariadb` client and a server at 127.0.0.1:$LAD_TEST_MYSQL_PORT (default 3306), root,
# no password (`LAD_TEST_MYSQL_PORT=$(scripts/mysql-test-server.sh)` gives one). Rows come from
# MariaDB's sequence engine (seq_1_to_N), so loading is fast and the data is the same on every run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAD_BIN="${LAD_BIN:-$ROOT/target/release/lad}"
ROWS="${ROWS:-200000}"
TRAIN_PER_HOST=2000
DB="lad_bench_$$"
PORT="${LAD_TEST_MYSQL_PORT:-3306}"
sql() { mariadb -h127.0.0.1 -P"$PORT" -uroot -N -B "$@"; }
if ! sql -e 'SELECT 1' >/dev/null 2>&1; then
  echo "bench-mysql: no MariaDB at 127.0.0.1:$PORT (run scripts/mysql-test-server.sh)" >&2; exit 1
fi
if [ ! -x "$LAD_BIN" ]; then echo "bench-mysql: $LAD_BIN is missing (cargo build --release -p lad)" >&2; exit 1; fi
WORK="$(mktemp -d)"
trap 'sql -e "DROP DATABASE IF EXISTS $DB" || true; rm -rf "$WORK"' EXIT

sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4"
# Routine templates by seq mod 7; one line in 97 is rare (mod 4). Host = seq mod 8.
msg="CASE WHEN seq % 97 = 0 THEN ELT(1 + seq % 4,
        CONCAT('kernel panic: fatal error in module nf_conntrack at 0x', seq % 250),
        CONCAT('disk /dev/sda failure: I/O error on sector ', seq % 250, ' (unrecoverable)'),
        CONCAT('authentication failure: permission denied for root from 203.0.113.', seq % 250),
        CONCAT('watchdog timeout: service api did not respond for ', seq % 250, ' seconds'))
      ELSE ELT(1 + (seq DIV 8) % 7,
        CONCAT('session opened for user admin by (uid=', seq % 250, ')'),
        'session closed for user admin',
        CONCAT('Accepted password for admin from 10.0.0.', seq % 250, ' port 22 ssh2'),
        CONCAT('interface eth0 link up, speed 1000 Mbps, rx packets ', seq % 250),
        CONCAT('dhcp lease renewed for 192.168.1.', seq % 250, ' lifetime 3600'),
        CONCAT('cron job backup finished in ', seq % 250, ' seconds'),
        CONCAT('GET /index.html 200 ', seq % 250, ' bytes')) END"
TRAIN=$((TRAIN_PER_HOST * 8))
sql "$DB" <<SQL
CREATE TABLE syslog (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, message TEXT,
  received_at DATETIME, hostname VARCHAR(64), facility VARCHAR(16)) ENGINE=InnoDB;
INSERT INTO syslog (message, received_at, hostname, facility)
  SELECT ELT(1 + (seq DIV 8) % 7, CONCAT('session opened for user admin by (uid=', seq % 250, ')'),
    'session closed for user admin', CONCAT('Accepted password for admin from 10.0.0.', seq % 250, ' port 22 ssh2'),
    CONCAT('interface eth0 link up, speed 1000 Mbps, rx packets ', seq % 250),
    CONCAT('dhcp lease renewed for 192.168.1.', seq % 250, ' lifetime 3600'),
    CONCAT('cron job backup finished in ', seq % 250, ' seconds'), CONCAT('GET /index.html 200 ', seq % 250, ' bytes')),
    UTC_TIMESTAMP() - INTERVAL 2 DAY + INTERVAL seq SECOND, CONCAT('host', seq % 8), 'local0'
  FROM seq_1_to_$TRAIN;
INSERT INTO syslog (message, received_at, hostname, facility)
  SELECT $msg, UTC_TIMESTAMP() - INTERVAL 1 DAY + INTERVAL (seq * 86000 DIV $ROWS) SECOND,
    CONCAT('host', seq % 8), 'local1'
  FROM seq_1_to_$ROWS;
SQL
cat > "$WORK/lad.yaml" <<YAML
STORAGE_DATASOURCE: mysql
STORAGE_DATASINK: mysql
MYSQL_INPUT_HOST: '127.0.0.1'
MYSQL_INPUT_PORT: $PORT
MYSQL_INPUT_DB: $DB
MYSQL_INPUT_USER: root
MYSQL_TARGET_HOST: '127.0.0.1'
MYSQL_TARGET_PORT: $PORT
MYSQL_TARGET_DB: $DB
MYSQL_TARGET_USER: root
MYSQL_TARGET_TABLE: syslog_anomalies
LOG_SOURCES:
  syslog:
    HOSTNAMES: [host0, host1, host2, host3, host4, host5, host6, host7]
MODEL_BASE_DIR: '$WORK/models'
HTTP_ADDR: '127.0.0.1:0'
TRAIN_MAX_ENTRIES: $TRAIN_PER_HOST
YAML
# Train on the routine lines only: the backlog is inserted above but training takes the
# newest TRAIN_MAX_ENTRIES per host, so move the backlog out and back.
sql "$DB" -e "CREATE TABLE backlog AS SELECT * FROM syslog WHERE id > $TRAIN; DELETE FROM syslog WHERE id > $TRAIN"
"$LAD_BIN" -q train --config "$WORK/lad.yaml"
sql "$DB" -e "INSERT INTO syslog SELECT * FROM backlog; DROP TABLE backlog"
total=$(sql "$DB" -e "SELECT count(*) FROM syslog")
start=$(date +%s.%N)
"$LAD_BIN" -q detect --config "$WORK/lad.yaml"
end=$(date +%s.%N)
scored=$(sql "$DB" -e "SELECT count(*) FROM lad_records WHERE state <> 0")
flagged=$(sql "$DB" -e "SELECT count(*) FROM syslog_anomalies")
awk -v n="$scored" -v t="$total" -v f="$flagged" -v s="$start" -v e="$end" 'BEGIN {
  printf "lad detect (mysql): %d of %d rows scored, %d anomalies, %.2f s, %.0f records/s\n", n, t, f, e - s, n / (e - s) }'
