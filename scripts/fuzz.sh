#!/usr/bin/env bash
# Fuzzing: builds lad's cargo-fuzz targets (fuzz/, libFuzzer) and runs each for a bounded time.
#   ./scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 15)
#   FUZZ_TARGETS="jsonl syslog" ./scripts/fuzz.sh 300    (some targets only)
# Prints, per target, the executions run and the crashes found. libFuzzer stops a target at its
# first crash: the input is minimised and kept in fuzz/regressions/<target>/ (commit it once the
# bug is fixed; `cargo test -p lad --test fuzz_regressions` replays it on stable Rust), and the
# script exits 1.
#
# Only stable Rust is needed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags (sanitizer
# coverage) to the stable compiler. cargo-fuzz is installed with `cargo install` when missing.
# The build goes to $LAD_FUZZ_TARGET_DIR (default /var/tmp/lad-fuzz-target), kept between runs.
# Each run starts from the committed seeds (fuzz/corpus/<target>/) plus what earlier runs of
# this machine found ($LAD_FUZZ_TARGET_DIR/corpus/<target>/, never committed).
# LAD_FUZZ_SEED=N fixes libFuzzer's random seed and LAD_FUZZ_FRESH=1 starts from the committed
# seeds only: the test command uses both, so its fuzz step explores the same inputs on every
# run (as far as its time allows) and fails only on a bug, not on the luck of a run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
secs="${1:-15}"
if ! [[ "$secs" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] (a whole number of seconds above 0, found '$secs')" >&2
    exit 2
fi
targets=(${FUZZ_TARGETS:-tokenizer pattern jsonl mongoexport syslog config model_file})
target_dir="${LAD_FUZZ_TARGET_DIR:-/var/tmp/lad-fuzz-target}"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --version 0.13.2 --quiet
fi

# AddressSanitizer by default (LAD_FUZZ_SANITIZER=none for more executions a second: lad's
# crates forbid unsafe code, so it guards the dependencies' unsafe code only). Panics, integer
# overflows (debug assertions are on), timeouts and memory blow-ups are caught either way.
sanitizer="${LAD_FUZZ_SANITIZER:-address}"
build_start=$SECONDS
cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" 2>&1 \
    | { grep -vE '^\s+(Compiling|Fresh|Checking)' || true; }
bin_dir="$target_dir/x86_64-unknown-linux-gnu/release"
for t in "${targets[@]}"; do
    [[ -x "$bin_dir/$t" ]] || { echo "fuzz target $t was not built ($bin_dir/$t)" >&2; exit 1; }
done
echo "build: $((SECONDS - build_start)) s"

status=0
summary=()
for t in "${targets[@]}"; do
    work="$target_dir/corpus/$t"
    if [[ -n "${LAD_FUZZ_FRESH:-}" ]]; then
        # From the committed seeds only, so the run does not depend on earlier runs.
        work="$target_dir/corpus-fresh/$t"
        rm -rf "$work"
    fi
    artifacts="$target_dir/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    rm -f "$artifacts"/*
    log="$target_dir/fuzz-$t.log"
    # -timeout: an input that takes 10 s is a finding (cost per line must be bounded);
    # -rss_limit_mb/-malloc_limit_mb: so is one that needs 2 GiB.
    set +e
    "$bin_dir/$t" "$work" "corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        ${LAD_FUZZ_SEED:+-seed="$LAD_FUZZ_SEED"} >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' | tail -1)
    crashes=0
    for found in "$artifacts"/*; do
        [[ -f "$found" ]] || continue
        kind=$(basename "$found" | cut -d- -f1)
        [[ "$kind" == slow ]] && continue
        crashes=$((crashes + 1))
        small="$artifacts/min-$(basename "$found")"
        "$bin_dir/$t" -minimize_crash=1 -max_total_time=20 -timeout=10 \
            -exact_artifact_path="$small" "$found" >/dev/null 2>&1 || true
        [[ -s "$small" ]] || small="$found"
        mkdir -p "regressions/$t"
        keep="regressions/$t/$kind-$(sha1sum "$small" | cut -c1-16)"
        cp "$small" "$keep"
        echo "$t: $kind input kept as fuzz/$keep; the report:"
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -5 | sed 's/^/    /'
    done
    if [[ $rc -ne 0 && $crashes -eq 0 ]]; then
        echo "$t: libFuzzer exited with $rc and left no input; its log:" >&2
        tail -20 "$log" >&2
        crashes=1
    fi
    [[ $crashes -eq 0 ]] || status=1
    summary+=("$(printf '%-12s %12s executions  %d crashes' "$t" "${execs:-?}" "$crashes")")
done
echo
echo "fuzzing, $secs s per target:"
printf '%s\n' "${summary[@]}"
exit $status
