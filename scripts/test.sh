#!/usr/bin/env bash
# Runs every test of Warden: formatting, lints, then unit, integration and CLI tests, each
# store-facing one against both SQLite and PostgreSQL. PostgreSQL being unreachable fails the
# run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

export WARDEN_TEST_POSTGRES_URL="${WARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Start the local PostgreSQL cluster if it is installed here and down.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

# The forward-auth test needs nginx (Debian's package): install it where it is missing.
if ! [ -x /usr/sbin/nginx ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing nginx for the forward-auth test"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; }
  service nginx stop >/dev/null 2>&1 || true
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# Third-party libraries against the real binary: PyJWT verifies tokens offline through the
# JWKS, Authlib runs the OAuth2 lifecycle. Installed from PyPI into a private virtualenv.
run_interop() {
  cargo build --locked -p warden-cli
  local target="${CARGO_TARGET_DIR:-target}"
  local venv="$target/interop-venv"
  if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
  # The npm `jose` library verifies a default token too (Node.js from the machine, jose from npm).
  local node_dir="$target/interop-node"
  mkdir -p "$node_dir"
  cp tests/interop/package.json tests/interop/verify.mjs "$node_dir/"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund >/dev/null)
  "$venv/bin/python" tests/interop/interop.py "$target/debug/warden" "$(command -v node)" "$node_dir/verify.mjs"
  # Authlib as an OpenID Connect relying party: code + PKCE, the ID token through discovery
  # and the JWKS, userinfo, refresh, logout, and the attacks on each.
  "$venv/bin/python" tests/interop/oidc.py "$target/debug/warden"
}

# Two cores: four test threads keep them busy while tests wait on I/O.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --test-threads 4 --no-fail-fast
else
  cargo test --workspace --locked -- --test-threads 4
fi

run_interop

# A real browser: Debian's Chromium, driven by Playwright, signs in through the hosted pages
# (screenshots of each page under target/screenshots).
tests/browser/run.sh "${CARGO_TARGET_DIR:-target}/debug/warden"

# The README's command-line block, pasted into a fresh directory.
WARDEN_BIN="${CARGO_TARGET_DIR:-target}/debug/warden" scripts/readme-cli.sh

# The Python client (ruff, mypy --strict, pytest against the real binary) and every seed
# example, each in its own virtualenv under target/.
clients/python/run-tests.sh "${CARGO_TARGET_DIR:-target}/debug/warden"
examples/run-tests.sh "${CARGO_TARGET_DIR:-target}/debug/warden"
