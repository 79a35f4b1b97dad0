#!/usr/bin/env bash
# Starts a three-node Warden cluster to try: nodes on 127.0.0.1:8081-8083 sharing one
# PostgreSQL database, behind nginx on http://127.0.0.1:8080 load-balancing round robin
# (deploy/cluster/nginx.conf, as the cluster test runs it). Ctrl-C stops everything.
#
#   scripts/cluster.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/warden_cluster PORT=8080 scripts/cluster.sh
#
# The master key, node logs and nginx's files stay in ./warden-cluster (CLUSTER_DIR), so a
# second start reuses the same store and key. WARDEN_BIN names a built binary (else a debug
# build is made).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
PORT="${PORT:-8080}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/warden_cluster}"
dir="$(mkdir -p "${CLUSTER_DIR:-warden-cluster}" && cd "${CLUSTER_DIR:-warden-cluster}" && pwd)"

if [ -z "${WARDEN_BIN:-}" ]; then
  (cd "$root" && cargo build --locked -q -p warden-cli)
  WARDEN_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/warden"
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$nginx_bin" ] || { echo "nginx is needed: apt-get install nginx" >&2; exit 1; }

# The database, created when missing.
db="${DATABASE_URL##*/}"; db="${db%%\?*}"
maintenance="${DATABASE_URL%/*}/postgres"
if ! psql "$maintenance" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql "$maintenance" -qc "CREATE DATABASE \"$db\""
  echo "created database $db"
fi

export DATABASE_URL WARDEN_ISSUER="http://127.0.0.1:$PORT" WARDEN_LOG="${WARDEN_LOG:-info,sqlx=warn}"
# One node initializes the store (printing the first admin's password once); all share its
# master key: WARDEN_MASTER_KEY when set, else the key file that first start writes.
WARDEN_DATA_DIR="$dir/keys" "$WARDEN_BIN" init
if [ -z "${WARDEN_MASTER_KEY:-}" ]; then
  key="$(cat "$dir/keys/master.key")"
  export WARDEN_MASTER_KEY="$key"
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "cluster stopped"
}
trap cleanup EXIT INT TERM

conf="$(cat "$root/deploy/cluster/nginx.conf")"
for n in 1 2 3; do
  port=$((PORT + n))
  WARDEN_DATA_DIR="$dir/node$n" WARDEN_LISTEN="127.0.0.1:$port" "$WARDEN_BIN" serve >"$dir/node$n.log" 2>&1 &
  pids+=("$!")
  conf="${conf//NODE$n/127.0.0.1:$port}"
done
for n in 1 2 3; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$((PORT + n))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$((PORT + n))/readyz" >/dev/null || { echo "node $n did not start; see $dir/node$n.log" >&2; exit 1; }
done
mkdir -p "$dir/nginx/logs"
printf '%s\n' "${conf//LISTEN_ADDR/127.0.0.1:$PORT}" >"$dir/nginx/nginx.conf"
"$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;' &
pids+=("$!")
sleep 0.3

cat <<INFO
Warden cluster: http://127.0.0.1:$PORT (nginx) -> nodes 127.0.0.1:$((PORT + 1)), :$((PORT + 2)), :$((PORT + 3))
  store:  $DATABASE_URL
  logs:   $dir/node1.log ... node3.log
Try:  curl -s http://127.0.0.1:$PORT/.well-known/jwks.json
      curl -s -d grant_type=password -d username=admin@localhost --data-urlencode password=... http://127.0.0.1:$PORT/oauth/token
Kill a node (kill -9 <pid>) and watch nginx pass over it; restart it and it catches up.
Node pids: ${pids[0]} ${pids[1]} ${pids[2]}. Ctrl-C stops the cluster.
INFO
wait
