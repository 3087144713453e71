# Shared by scripts/bench-mongo.sh and scripts/bench-es.sh (sourced, not run): the lad binary,
# the seeded JSON Lines both load, the sources part of their config, and the timed run.
# Callers set ROOT, N and WORK before calling these functions.

# Sets LAD: $LAD when set, else a release build in $CARGO_TARGET_DIR.
bench_lad() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lad-target}"
    if [ -z "${LAD:-}" ]; then
        cargo build --release --quiet -p lad --manifest-path "$ROOT/Cargo.toml"
        LAD="$CARGO_TARGET_DIR/release/lad"
    fi
}

# The config keys after the backend's own: two sources of four hosts, the old field names.
bench_sources_yaml() {
    cat <<YAML
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
}

# Seeded JSON Lines in $WORK/network_logs.jsonl and $WORK/web_logs.jsonl, N/2 each: routine
# templates with numbers, one rare line in 97, one second apart, ending a minute ago.
bench_generate() {
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
}

# CPU seconds (user + system) a process has used, from /proc/PID/stat; 0 without a PID.
cpu_seconds() {
    if [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ]; then
        awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
    else
        echo 0
    fi
}

# bench_run CONFIG NAME: generates the data, imports both sources, trains, then times
# `lad detect` from start to exit and prints records/s under NAME, with the CPU time lad used
# (and the server's, when SERVER_PID names its process): what lad's side costs per record,
# whatever the server's speed.
bench_run() {
    local config="$1" name="$2" start end c s0 s1 cpu
    bench_generate
    for c in network_logs web_logs; do
        "$LAD" -q import --config "$config" --source "$c" "$WORK/$c.jsonl"
    done
    "$LAD" -q train --config "$config"
    s0=$(cpu_seconds "${SERVER_PID:-}")
    start=$(date +%s.%N)
    cpu=$( { /usr/bin/time -f '%U %S' "$LAD" -q detect --config "$config" 2>&1 >/dev/null; } | tail -n 1)
    end=$(date +%s.%N)
    s1=$(cpu_seconds "${SERVER_PID:-}")
    python3 -c "import sys
n, s, name = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
lad = sum(float(x) for x in sys.argv[4].split())
server = float(sys.argv[6]) - float(sys.argv[5])
print(f'lad detect ({name}): {n} records in {s:.2f} s = {n / s:,.0f} records/s')
print(f'  CPU: lad {lad:.2f} s = {lad / n * 1e6:.1f} us per record (one core: {n / lad:,.0f} records/s); '
      + (f'server {server:.2f} s' if server > 0 else 'server not measured (SERVER_PID unset)'))" \
        "$(( N / 2 * 2 ))" "$(python3 -c "print($end - $start)")" "$name" "$cpu" "$s0" "$s1"
    echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
