#!/usr/bin/env bash
# HTTP benchmarks on loopback. Builds release binaries, then for SQLite and PostgreSQL starts
# Warden pinned to core 0 and the load generator pinned to core 1 (PostgreSQL, when used,
# runs where the scheduler puts it, on both cores), and measures GET /healthz, the refresh
# grant (each worker following its own rotation chain), client_credentials (HTTP Basic) and
# POST /v1/check with a bearer token (compare its rate with /healthz: the issue 4 target is 70%).
# AuthZEN: evaluation and evaluations (100 items about the bench user), beside check-batch
# (100 checks) for the same questions through /v1/check/batch.
# Further modes: api-key-me and api-key-check (GET /v1/users/me and POST /v1/check with an API
# key), and password (one full login per request, four workers).
# Besides requests per second it reports Warden's CPU seconds during the run, and requests
# per second of Warden CPU: the throughput one core running Warden sustains.
#   DURATION=10 CONCURRENCY=32 [BACKENDS="sqlite postgres"] [MODES="trivial check"] scripts/bench-http.sh
# BATCH sets the checks per request of the batch modes (check-batch, evaluations; default 100).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
PG_ADMIN="${WARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
PORT=18181

cargo build --release --locked -p warden-cli -p warden-loadgen >&2
# BENCH_WARDEN_BIN measures another build of the server (a baseline) with this load generator.
W=${BENCH_WARDEN_BIN:-target/release/warden}
L=target/release/warden-load

# CPU seconds (user + system) the process has used so far.
cpu_seconds() {
  awk -v tick="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / tick}' "/proc/$1/stat"
}

bench() {
  local backend=$1 dir pid creds id secret
  dir=$(mktemp -d)
  export WARDEN_DATA_DIR="$dir" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG=warn
  export WARDEN_ISSUER="http://127.0.0.1:$PORT"
  export WARDEN_ADMIN_PASSWORD='bench admin passphrase'
  # One address sends everything here: lift the per-IP token bucket out of the way.
  export WARDEN_TOKEN_RATE=100000 WARDEN_TOKEN_BURST=100000
  # The forward-auth mode asks about GET /documents/42, which the example's rules decide.
  export WARDEN_CONFIG="$PWD/examples/nginx-forward-auth/warden.toml"
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_bench" -c "CREATE DATABASE warden_bench" >/dev/null
    export DATABASE_URL="${PG_ADMIN%/*}/warden_bench"
  fi
  $W init >/dev/null
  echo 'bench passphrase 1' | $W user create --email bench@example.com --password-stdin >/dev/null
  # The decision benchmark asks an RBAC question the bench user's role answers; the AuthZEN
  # modes ask it about the bench user, which needs warden.check:any.
  $W role create reader -p documents:read -p warden.check:any >/dev/null
  $W role grant --user bench@example.com --role reader >/dev/null
  creds=$($W client create --name bench)
  id=$(awk '/^client_id:/ {print $2}' <<<"$creds")
  secret=$(awk '/^client_secret:/ {print $2}' <<<"$creds")
  key=$($W api-key create --user bench@example.com --name bench --role reader | awk '/^key:/ {print $2}')
  subject=$($W user list | awk '/bench@example.com/ {print $1}')
  taskset -c 0 $W serve >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  for mode in ${MODES:-trivial check refresh client-credentials}; do
    before=$(cpu_seconds "$pid")
    # --flag=value: a generated secret may start with `-`.
    workers=$CONCURRENCY
    # More than six simultaneous logins of one identifier are refused as a burst of guesses.
    if [ "$mode" = password ]; then workers=4; fi
    out=$(taskset -c 1 $L --url="http://127.0.0.1:$PORT" --mode="$mode" --concurrency="$workers" \
      --duration="$DURATION" --client-id="$id" --client-secret="$secret" --api-key="$key" \
      --subject="$subject" --batch="${BATCH:-100}")
    after=$(cpu_seconds "$pid")
    ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<"$out")
    # Requests served per second of Warden's own CPU time: its throughput per core.
    per_core=$(awk -v ok="$ok" -v a="$after" -v b="$before" 'BEGIN {printf "%.0f", ok / (a - b)}')
    cpu_ms=$(awk -v ok="$ok" -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", (a - b) * 1000 / ok}')
    echo "[$backend] $out warden_cpu=$(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.1f", a - b}')s per_warden_core=$per_core/s cpu_per_request=${cpu_ms}ms"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  if [ "$backend" = postgres ]; then psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_bench WITH (FORCE)" >/dev/null; fi
}

for backend in ${BACKENDS:-sqlite postgres}; do
  bench "$backend"
done
