#!/usr/bin/env bash
# The staff UI's browser tests (tests/ui) drive Debian's Chromium through Playwright; Playwright's
# own browser download cannot work here. Install chromium when it is missing, or fail saying why.
set -u
CHROMIUM="${UI_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    echo "Chromium is installed: $("$CHROMIUM" --version 2>/dev/null)"
    exit 0
fi

echo "Chromium is not installed at $CHROMIUM; installing Debian's chromium package."
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "ERROR: installing chromium needs root (apt-get install -y chromium), and sudo is not available." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the package lists first; refresh only if that fails.
$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; }

if [ ! -x "$CHROMIUM" ]; then
    echo "ERROR: Chromium could not be installed at $CHROMIUM; the browser tests cannot run." >&2
    echo "       Install it (apt-get install -y chromium) or set UI_CHROMIUM to a Chromium binary." >&2
    exit 1
fi
echo "Chromium installed: $("$CHROMIUM" --version 2>/dev/null)"
