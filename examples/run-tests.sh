#!/usr/bin/env bash
# Runs every example's tests against a Warden binary:
#   examples/run-tests.sh target/debug/warden
# Creates (or reuses) a virtualenv under ${CARGO_TARGET_DIR:-target}/examples-venv, installs the
# Python client with its extras and each example's pinned requirements into it, then runs each
# example folder in its own pytest process (several name their module main.py). Exits non-zero
# when any test fails, errors or is skipped. PostgreSQL at 127.0.0.1:5432 is needed (seed 003).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 <warden binary>" >&2
  exit 2
fi
binary=$(realpath "$1")
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }
cd "$(dirname "$0")/.."

# Start the local PostgreSQL cluster if it is installed here and down.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

# The single-page app's test drives Debian's Chromium (Playwright without its own browsers).
if ! [ -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the single-page app example"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi

venv="$(realpath -m "${CARGO_TARGET_DIR:-target}")/examples-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
requirements=(-r examples/_testkit/requirements.txt)
for file in examples/seed-*/requirements.txt examples/authzen/requirements.txt \
    examples/web-sign-in-flask/requirements.txt examples/spa-sign-in/requirements.txt; do requirements+=(-r "$file"); done
"$venv/bin/pip" install --quiet --disable-pip-version-check "./clients/python[flask,fastapi,thrift]" "${requirements[@]}"
# The client changes with the repository: always install the working tree's.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "./clients/python"

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0
for example in examples/seed-*/ examples/authzen/ examples/web-sign-in-flask/ examples/spa-sign-in/; do
  name=$(basename "$example")
  echo "== $name"
  (cd examples && WARDEN_BIN="$binary" "$venv/bin/python" -m pytest -q "$name" \
      -c _testkit/pytest.ini --rootdir . --confcutdir . \
      --junitxml="$reports/$name.xml") || status=1
done

summary=0
"$venv/bin/python" - "$reports" <<'EOF' || summary=1
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

passed = failed = skipped = 0
for report in sorted(Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests, skips = int(suite.get("tests")), int(suite.get("skipped"))
        bad = int(suite.get("failures")) + int(suite.get("errors"))
        passed, failed, skipped = passed + tests - bad - skips, failed + bad, skipped + skips
print(f"examples: {passed} passed, {failed + skipped} failed")
sys.exit(1 if failed or skipped or not passed else 0)
EOF
[ "$status" -eq 0 ] && [ "$summary" -eq 0 ]
