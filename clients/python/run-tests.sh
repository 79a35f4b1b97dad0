#!/usr/bin/env bash
# Checks and tests the Python client against a real Warden binary: ruff (lint and format),
# mypy --strict, then pytest, which starts its own Warden on a free port with a throw-away
# SQLite store. Everything runs in a virtualenv under ${CARGO_TARGET_DIR:-target}/python-venv;
# any failure, a missing dependency or a missing binary included, fails the run.
#
#   clients/python/run-tests.sh [path/to/warden]    (default: $WARDEN_BIN, else target/debug/warden)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
binary="${1:-${WARDEN_BIN:-$target/debug/warden}}"
case "$binary" in /*) ;; *) binary="$root/$binary" ;; esac
if [ ! -x "$binary" ]; then
  echo "run-tests.sh: no executable Warden binary at $binary" >&2
  exit 1
fi

venv="$target/python-venv"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
pip=("$venv/bin/python" -m pip --quiet --disable-pip-version-check)
"${pip[@]}" install -r clients/python/requirements-dev.txt
"${pip[@]}" install --no-build-isolation "./clients/python[flask,fastapi,thrift]"
# The same version number is installed again from the current sources, without editable links,
# so the tests import exactly what `pip install ./clients/python` installs.
"${pip[@]}" install --force-reinstall --no-deps --no-build-isolation ./clients/python

cd clients/python
export RUFF_CACHE_DIR="$target/python-ruff-cache"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy" --strict --cache-dir "$target/python-mypy-cache" src/warden_client
WARDEN_BIN="$binary" "$venv/bin/python" -m pytest -p no:cacheprovider
