#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the checks and the tests.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# The serve page's browser test drives Debian's chromium through Playwright
# (never `playwright install`: it downloads a browser of its own). Without root
# or apt, that one test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

python3 -m venv .venv
# The machine's pip configuration lists local wheel folders that may be absent: quiet its noise.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
# The Hub emulator and the moto harness: a distribution of their own, never in hgloc's wheel.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ./testing 2>&1 \
    | { grep -v "^WARNING: Location" || true; }

.venv/bin/ruff check src testing tests benchmarks
.venv/bin/mypy

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating as a failure, the suite should never be empty" >&2
    exit 1
fi
exit "$status"
