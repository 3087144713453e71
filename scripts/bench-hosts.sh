#!/usr/bin/env bash
# What a host costs (issue 19, item 3): many small hosts imported into a fresh sqlite store,
# then `lad train` and `lad detect` under /usr/bin/time -v. For each case it reports the peak
# resident memory, the wall time, the lines lad wrote to standard error and the bytes of model
# files, so the cost per host is the difference between two cases divided by the hosts added.
#
#   scripts/bench-hosts.sh                       (cases: see CASES below)
#   CASES="0x0 5000x1 5000x10" scripts/bench-hosts.sh
#
# A case is HOSTSxLINES: HOSTS hosts with LINES lines each, plus two hosts with 200 lines (so
# there is always something to train). LAD defaults to the release binary
# ($CARGO_TARGET_DIR or target)/release/lad; build it first (cargo build -p lad --release).
# Results: $OUT (default target/bench-hosts) gets every log and summary.md. Installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
LAD="${LAD:-$TARGET/release/lad}"
OUT="${OUT:-$ROOT/target/bench-hosts}"
CASES="${CASES:-0x0 2000x1 10000x1 2000x10 5000x10}"
mkdir -p "$OUT"
[ -x "$LAD" ] || { echo "bench-hosts: no lad binary at $LAD (build it, or set LAD)" >&2; exit 1; }

gen() { # hosts lines file
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys, time, random
hosts, lines, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(1)
end = int(time.time()) - 120
words = ["session opened for user", "connection from", "job finished in", "disk usage at",
         "GET /index.html 200", "link up on eth0 speed", "lease renewed for"]
def line(host, i, t):
    msg = f"{rng.choice(words)} {rng.randrange(1000)}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return json.dumps({"hostname": host, "received_at": stamp, "message": msg})
with open(path, "w") as f:
    n = 0
    for h in range(hosts):
        for i in range(lines):
            f.write(line(f"h{h:06d}", i, end - (n % 3600)) + "\n"); n += 1
    for h in ("big-1", "big-2"):
        for i in range(200):
            f.write(line(h, i, end - i * 10) + "\n")
EOF
}

peak() { grep "Maximum resident set size" "$1" | awk '{print $NF}'; }
wall() { grep "Elapsed (wall clock)" "$1" | awk '{print $NF}'; }

{
    echo "# What a host costs"
    echo
    echo "$(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg), binary: $LAD"
    echo
    echo "| case (hosts x lines) | step | peak RSS (KiB) | wall | stderr lines | model bytes |"
    echo "|---|---|---|---|---|---|"
} > "$OUT/summary.md"

for case in $CASES; do
    hosts="${case%x*}"; lines="${case#*x}"
    dir="$(mktemp -d)"
    gen "$hosts" "$lines" "$dir/logs.jsonl"
    printf 'SQLITE_PATH: %s/lad.db\nMODEL_BASE_DIR: %s/models\nPARALLELISM: 2\n' "$dir" "$dir" > "$dir/lad.yaml"
    "$LAD" -q import --config "$dir/lad.yaml" "$dir/logs.jsonl" 2> "$OUT/$case.import.log"
    for step in train detect; do
        /usr/bin/time -v "$LAD" "$step" --config "$dir/lad.yaml" \
            2> "$OUT/$case.$step.log" || true
        # /usr/bin/time's own lines start with a tab; the rest is lad's.
        lad_lines=$(grep -cv "^$(printf '\t')" "$OUT/$case.$step.log" || true)
        bytes=$(du -sb "$dir/models" 2>/dev/null | cut -f1)
        echo "| $case | $step | $(peak "$OUT/$case.$step.log") | $(wall "$OUT/$case.$step.log") | $lad_lines | ${bytes:-0} |" >> "$OUT/summary.md"
    done
    rm -rf "$dir"
done
cat "$OUT/summary.md"
