#!/usr/bin/env bash
# Builds a Debian package of lad with dpkg-deb (no cargo-deb to install):
#   ./scripts/package-deb.sh            # release build -> target/debian/lad_VERSION_ARCH.deb
#   ./scripts/package-deb.sh --profile dev   # the debug binary (what the test suite packages)
#   ./scripts/package-deb.sh --features kafka  # with the Kafka backend (needs libssl-dev)
# Install with `dpkg -i lad_*.deb`, then `systemctl enable --now lad`. The package holds:
#   /usr/bin/lad, /lib/systemd/system/lad.service, /etc/lad/lad.yaml (a conffile),
#   /usr/share/man/man1/lad.1.gz, completions for bash, zsh and fish, and the copyright file.
# No maintainer scripts: the unit runs as a systemd DynamicUser with StateDirectory=lad, so
# nothing is created at install time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lad-target}"
profile=release
features=()
out_dir="$CARGO_TARGET_DIR/debian"
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="$2"; shift 2 ;;
        --features) features=(--features "$2"); shift 2 ;;
        --out) out_dir="$2"; shift 2 ;;
        *) echo "package-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$profile" in
    release) cargo build --release -p lad "${features[@]}" --quiet; bin="$CARGO_TARGET_DIR/release/lad" ;;
    # The binary the test build made (`cargo test` builds it for the CLI tests, with the
    # workspace's features): up to date after the tests ran, so nothing is compiled twice.
    dev) cargo test --workspace "${features[@]}" --no-run --quiet; bin="$CARGO_TARGET_DIR/debug/lad" ;;
    *) echo "package-deb.sh: --profile is release or dev" >&2; exit 2 ;;
esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$bin" "$stage/usr/bin/lad"
install -D -m 0644 deploy/lad.service "$stage/lib/systemd/system/lad.service"
install -D -m 0644 examples/lad.yaml "$stage/etc/lad/lad.yaml"
install -d -m 0755 "$stage/usr/share/man/man1" "$stage/usr/share/bash-completion/completions" \
    "$stage/usr/share/zsh/vendor-completions" "$stage/usr/share/fish/vendor_completions.d" \
    "$stage/usr/share/doc/lad"
"$bin" manpage | gzip -9n > "$stage/usr/share/man/man1/lad.1.gz"
"$bin" completions bash > "$stage/usr/share/bash-completion/completions/lad"
"$bin" completions zsh > "$stage/usr/share/zsh/vendor-completions/_lad"
"$bin" completions fish > "$stage/usr/share/fish/vendor_completions.d/lad.fish"
install -m 0644 README.md "$stage/usr/share/doc/lad/README.md"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: lad"
    echo
    echo "Files: *"
    echo "License: Apache-2.0"
    echo " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0."
} > "$stage/usr/share/doc/lad/copyright"

install -d "$stage/DEBIAN"
echo "/etc/lad/lad.yaml" > "$stage/DEBIAN/conffiles"
size_kb=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: lad
Version: $version
Architecture: $arch
Maintainer: lad developers <lad@localhost>
Installed-Size: $size_kb
Depends: libc6
Section: admin
Priority: optional
Description: log anomaly detector
 lad learns what is normal for each host's syslog, marks every new line as normal or
 anomalous with a score, and groups anomalies into templates. It reads from SQLite, files,
 MongoDB or MySQL and serves a web page, a JSON API and Prometheus metrics.
CONTROL

mkdir -p "$out_dir"
deb="$out_dir/lad_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
