#!/usr/bin/env bash
# Make sure a Chromium binary is available for the browser test of the HTML report
# (tests/test_report_browser.py). Installs the distribution's package when none is on PATH.
# Exit 0 when Chromium is present afterwards, 1 otherwise.
set -u

find_chromium() {
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if path=$(find_chromium); then
    echo "chromium present: $path"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "chromium is missing and neither root nor password-less sudo is available to install it" >&2
    exit 1
fi

echo "installing chromium from the distribution's packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq chromium || $SUDO apt-get install -y -qq chromium-browser || true

if path=$(find_chromium); then
    echo "chromium installed: $path"
    exit 0
fi
echo "chromium could not be installed" >&2
exit 1
