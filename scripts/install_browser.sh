#!/usr/bin/env bash
# Install the headless browser used by tests/test_browser.py (Debian/Ubuntu).
#
# Installs Debian's `chromium` and `chromium-driver` packages with apt-get, only
# when /usr/bin/chromium is missing.  Browser-download tools (selenium-manager,
# playwright install, ...) are not used: they cannot reach their download hosts
# on machines that only see the package mirrors.
#
# Usage:  sudo scripts/install_browser.sh      (or as root in a container/CI job)
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$DRIVER" ]]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

if [[ -x "$CHROMIUM" && ! -x "$DRIVER" ]]; then
    echo "chromium present but $DRIVER missing; installing chromium-driver" >&2
fi

SUDO=""
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: run as root (or install sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver

"$CHROMIUM" --version
"$DRIVER" --version
