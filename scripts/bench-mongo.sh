#!/usr/bin/env bash
# Times `lad detect` end to end on the mg backend: N seeded documents (default 200,000) over 8
# hosts in two collections of a fresh database on the MongoDB wire-protocol test server, loaded
# with `lad import`, models trained with `lad train`, then `lad detect` timed from start to exit
# (reading, scoring, writing every verdict back). Prints records/s.
#   scripts/bench-mongo.sh [N]
# Server: LAD_TEST_MONGO_URI=mongodb://host:port when set, else scripts/mongo-test-server.sh
# (which installs its server when missing; see its header).
# Binary: $LAD when set, else a release build in $CARGO_TARGET_DIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-200000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lad-target}"
if [ -z "${LAD:-}" ]; then
    cargo build --release --quiet -p lad --manifest-path "$ROOT/Cargo.toml"
    LAD="$CARGO_TARGET_DIR/release/lad"
fi

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

WORK=$(mktemp -d)
DB="lad_bench_$$"
cat >"$WORK/multihost.yaml" <<EOF
STORAGE_DATASOURCE: mg
STORAGE_DATASINK: mg
MG_HOST: $HOST
MG_PORT: $PORT
MODEL_BASE_DIR: '$WORK/models'
MG_DB: "$DB"
LOG_SOURCES:
  network_logs:
    HOSTNAMES: [r1, r2, fw1, fw2]
  web_logs:
    HOSTNAMES: [web1, web2, web3, web4]
MESSAGE_INDEX: message
DATETIME_INDEX: received_at
HOSTNAME_INDEX: hostname
TRAIN_MAX_ENTRIES: 10000
HTTP_ADDR: '127.0.0.1:0'
EOF

# Seeded JSON Lines: routine templates with numbers, one rare line in 97, one second apart.
python3 - "$N" "$WORK" <<'EOF'
import json, random, sys, time
n, work = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1)
routine = ["session opened for user admin by (uid={})", "session closed for user admin",
           "Accepted password for admin from 10.0.0.{} port 22 ssh2",
           "interface eth0 link up, speed 1000 Mbps, rx packets {}",
           "dhcp lease renewed for 192.168.1.{} lifetime 3600",
           "cron job backup finished in {} seconds", "GET /index.html 200 {} bytes"]
rare = ["kernel panic: fatal error in module nf_conntrack at 0x{}",
        "disk /dev/sda failure: I/O error on sector {} (unrecoverable)",
        "authentication failure: permission denied for root from 203.0.113.{}"]
sources = {"network_logs": ["r1", "r2", "fw1", "fw2"], "web_logs": ["web1", "web2", "web3", "web4"]}
end = int(time.time()) - 60
per = n // 2
for name, hosts in sources.items():
    with open(f"{work}/{name}.jsonl", "w") as f:
        for i in range(per):
            pool = rare if i % 97 == 96 else routine
            t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end - (per - i)))
            msg = rng.choice(pool).replace("{}", str(rng.randint(1, 250)))
            f.write(json.dumps({"hostname": hosts[i % len(hosts)], "received_at": t,
                                "message": msg, "app": "bench", "seq": i}) + "\n")
EOF

for c in network_logs web_logs; do
    "$LAD" -q import --config "$WORK/multihost.yaml" --source "$c" "$WORK/$c.jsonl"
done
"$LAD" -q train --config "$WORK/multihost.yaml"
start=$(date +%s.%N)
"$LAD" -q detect --config "$WORK/multihost.yaml"
end=$(date +%s.%N)
python3 -c "import sys; n, s = int(sys.argv[1]), float(sys.argv[2]); \
print(f'lad detect (mg): {n} records in {s:.2f} s = {n / s:,.0f} records/s')" \
    "$(( N / 2 * 2 ))" "$(python3 -c "print($end - $start)")"
rm -rf "$WORK"
