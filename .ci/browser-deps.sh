#!/usr/bin/env bash
# What the browser (e2e) tests need, installed only when missing (idempotent, quiet):
#   - Debian's Chromium at /usr/bin/chromium, with a font for readable screenshots;
#   - the `playwright` library from PyPI in the given virtual environment. Playwright's own
#     browser downloads are never used (the tests drive /usr/bin/chromium).
# Usage: .ci/browser-deps.sh [PYTHON]   (default: .venv/bin/python)
set -euo pipefail

PY="${1:-.venv/bin/python}"
CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fonts-liberation fonts-dejavu-core)

if [ ! -x "$CHROMIUM" ]; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # No package lists yet (a fresh image), or lists too old to know chromium: update first.
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        "${SUDO[@]}" apt-get update -qq
    fi
    echo "browser-deps: installing ${PACKAGES[*]} (apt)"
    if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" \
            >/dev/null; then
        # A stale list can name package versions the mirror no longer has: refresh, retry once.
        "${SUDO[@]}" apt-get update -qq
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    fi
fi

if ! "$PY" -c "import playwright.sync_api" 2>/dev/null; then
    echo "browser-deps: installing playwright into $PY (pip; no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PY" -m pip install --quiet --disable-pip-version-check \
        --constraint "$(dirname "$0")/../constraints.txt" \
        "playwright>=1.45"
fi
