# Shared by the reliability scripts: builds the release binaries, starts one Warden pinned to
# core 0 (the load generator runs on core 1), and reads the process's memory and open files.
# Sourced, not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PG_ADMIN="${WARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
PORT="${PORT:-18282}"
BASE="http://127.0.0.1:$PORT"
TARGET="${CARGO_TARGET_DIR:-target}"
W="$TARGET/release/warden"
L="$TARGET/release/warden-load"
ADMIN_PASSWORD='reliability admin passphrase'

build() {
  cargo build --release --locked -p warden-cli -p warden-loadgen >&2
}

# start_warden sqlite|postgres [extra VAR=value ...]: initializes a fresh store with a bench
# user holding a reader role, starts `warden serve` on core 0, and sets WARDEN_PID.
start_warden() {
  local backend=$1
  shift
  # Cleaned up however the script ends, a failed start included.
  trap stop_warden EXIT
  DATA_DIR=$(mktemp -d)
  export WARDEN_DATA_DIR="$DATA_DIR" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG="${WARDEN_LOG:-warn}"
  export WARDEN_ISSUER="$BASE" WARDEN_ADMIN_PASSWORD="$ADMIN_PASSWORD"
  export WARDEN_TOKEN_RATE=100000 WARDEN_TOKEN_BURST=100000
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_reliability WITH (FORCE)" -c "CREATE DATABASE warden_reliability" >/dev/null
    export DATABASE_URL="${PG_ADMIN%/*}/warden_reliability"
  fi
  $W init >/dev/null
  echo 'bench passphrase 1' | $W user create --email bench@example.com --password-stdin >/dev/null
  $W role create reader -p documents:read >/dev/null
  $W role grant --user bench@example.com --role reader >/dev/null
  local creds
  creds=$($W client create --name bench)
  CLIENT_ID=$(awk '/^client_id:/ {print $2}' <<<"$creds")
  CLIENT_SECRET=$(awk '/^client_secret:/ {print $2}' <<<"$creds")
  env "$@" taskset -c 0 $W serve >"$DATA_DIR/serve.log" 2>&1 &
  WARDEN_PID=$!
  for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "warden did not start:" >&2
  cat "$DATA_DIR/serve.log" >&2
  return 1
}

# Stops the server and removes its data; safe to call twice.
stop_warden() {
  if [ -n "${WARDEN_PID:-}" ]; then
    kill "$WARDEN_PID" 2>/dev/null || true
    wait "$WARDEN_PID" 2>/dev/null || true
    WARDEN_PID=""
  fi
  if [ -n "${DATA_DIR:-}" ]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
  if [ -n "${DATABASE_URL:-}" ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_reliability WITH (FORCE)" >/dev/null || true
    unset DATABASE_URL
  fi
}

# load MODE [warden-load flags…]: one run of the load generator on core 1. The bench user logs
# in for the bearer modes; the admin for the admin modes.
load() {
  local mode=$1 user=bench@example.com password='bench passphrase 1'
  shift
  case "$mode" in admin | create-user) user=admin@localhost password="$ADMIN_PASSWORD" ;; esac
  taskset -c 1 $L --url="$BASE" --mode="$mode" --username="$user" --password="$password" \
    --client-id="$CLIENT_ID" --client-secret="$CLIENT_SECRET" "$@"
}

# field NAME LINE: the value of NAME=… in a load generator's output line (0 when absent).
field() {
  local value
  value=$(sed -nE "s/.*[ ]$1=([0-9.]+).*/\1/p" <<<"$2")
  echo "${value:-0}"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
open_files() { ls "/proc/$1/fd" | wc -l; }
