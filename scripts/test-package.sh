#!/usr/bin/env bash
# Builds the Debian package (debug binary, to reuse the test build) and installs it with
# `dpkg -i` into a scratch root (dpkg --root, so this machine's own /usr is left alone), then
# checks what it put in place: the binary and its --version with the commit, the systemd unit
# and its hardening score, the example config (a conffile, accepted by check-config), the man
# page and the shell completions; then removes it again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
fail() { echo "test-package: $*" >&2; exit 1; }

# The features of the test build (scripts/test.sh), so the binary is the one already built.
deb=$(./scripts/package-deb.sh --profile dev --features "${LAD_TEST_FEATURES:-lad/kafka}" --out "${CARGO_TARGET_DIR:-/var/tmp/lad-target}/debian-test")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# The scratch root has no libc6 registered: its dependency is the one thing not checked here.
dpkg --root="$root" --force-depends --force-script-chrootless -i "$deb" >/dev/null

[ -x "$root/usr/bin/lad" ] || fail "no /usr/bin/lad"
version=$("$root/usr/bin/lad" --version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
case "$version" in
    *"(commit $commit)"*) ;;
    *) fail "lad --version says '$version', expected the commit $commit" ;;
esac
[ -f "$root/lib/systemd/system/lad.service" ] || fail "no systemd unit"
grep -q '^ExecStart=/usr/bin/lad run --config /etc/lad/lad.yaml$' \
    "$root/lib/systemd/system/lad.service" || fail "the unit does not start /usr/bin/lad"
grep -q '^RestartPreventExitStatus=2$' "$root/lib/systemd/system/lad.service" \
    || fail "the unit restarts on a configuration error"
if command -v systemd-analyze >/dev/null; then
    # --threshold is in tenths: 20 = an exposure of at most 2.0.
    (cd "$root" && systemd-analyze security --offline=true --threshold=20 \
        "$root/lib/systemd/system/lad.service" | tail -n1) || fail "unit hardening above 2.0"
else
    echo "test-package: systemd-analyze missing, hardening score not checked" >&2
fi
grep -qx '/etc/lad/lad.yaml' "$root/var/lib/dpkg/info/lad.conffiles" || fail "config not a conffile"
(cd "$root" && "$root/usr/bin/lad" check-config --config "$root/etc/lad/lad.yaml" >/dev/null) \
    || fail "the packaged config is refused"
zcat "$root/usr/share/man/man1/lad.1.gz" | grep -q '^\.TH lad 1' || fail "no man page"
bash -n "$root/usr/share/bash-completion/completions/lad" || fail "bash completion does not parse"
grep -q 'check-config' "$root/usr/share/bash-completion/completions/lad" \
    || fail "bash completion lacks the commands"
[ -s "$root/usr/share/zsh/vendor-completions/_lad" ] || fail "no zsh completion"
[ -s "$root/usr/share/fish/vendor_completions.d/lad.fish" ] || fail "no fish completion"

dpkg --root="$root" --force-script-chrootless -r lad >/dev/null
[ ! -e "$root/usr/bin/lad" ] || fail "dpkg -r left the binary"
[ -f "$root/etc/lad/lad.yaml" ] || fail "dpkg -r removed the conffile (only purge should)"
echo "package: $(basename "$deb") installs, checks and removes cleanly"
