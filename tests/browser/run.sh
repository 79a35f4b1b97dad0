#!/usr/bin/env bash
# The browser sign-in test: Playwright (from PyPI, in a private virtualenv) drives Debian's
# Chromium through Warden's hosted pages and saves a screenshot of each page. Playwright's own
# browser download is never used (it cannot be fetched here): the test launches
# /usr/bin/chromium, installed from Debian's packages where it is missing.
# Usage: tests/browser/run.sh [warden-binary]   (default: the debug build under the target dir)
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
binary="${1:-$target/debug/warden}"

if ! [ -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "the browser test needs /usr/bin/chromium (Debian's chromium package); run as root to install it" >&2
    exit 1
  fi
fi

venv="$target/browser-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/browser/requirements.txt

shots="$target/screenshots"
mkdir -p "$shots"
"$venv/bin/python" tests/browser/signin.py "$binary" "$shots"
