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
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-200000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lad-target}"
if [ -z "${LAD:-}" ]; then
    cargo build --release --quiet -p lad --manifest-path "$ROOT/Cargo.toml"
    LAD="$CARGO_TARGET_DIR/release/lad"
fi

if [ -n "${LAD_TEST_ES_URL:-}" ]; then
    BASE="${LAD_TEST_ES_URL%/}"
else
    BASE="http://127.0.0.1:$("$ROOT/scripts/es-test-server.sh")"
fi
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

cat >"$WORK/es.yaml" <<YAML
STORAGE_DATASOURCE: es
STORAGE_DATASINK: es
ES_ENDPOINT: $URL
MODEL_BASE_DIR: '$WORK/models'
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
YAML

# Seeded JSON Lines: routine templates with numbers, one rare line in 97, one second apart.
python3 - "$N" "$WORK" <<'PY'
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
PY

for c in network_logs web_logs; do
    "$LAD" -q import --config "$WORK/es.yaml" --source "$c" "$WORK/$c.jsonl"
done
"$LAD" -q train --config "$WORK/es.yaml"
start=$(date +%s.%N)
"$LAD" -q detect --config "$WORK/es.yaml"
end=$(date +%s.%N)
python3 -c "import sys; n, s = int(sys.argv[1]), float(sys.argv[2]); \
print(f'lad detect (es): {n} records in {s:.2f} s = {n / s:,.0f} records/s')" \
    "$(( N / 2 * 2 ))" "$(python3 -c "print($end - $start)")"
