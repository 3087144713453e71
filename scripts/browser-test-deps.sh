#!/usr/bin/env bash
# Installs what the browser test (crates/lad/tests/browser.rs) needs: Debian's chromium and
# chromedriver. Does nothing when both are already on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser-test-deps: no apt-get here; install chromium and chromedriver by hand," >&2
    echo "or set LAD_SKIP_BROWSER=1 to skip the browser test deliberately" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
