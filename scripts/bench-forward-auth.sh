#!/usr/bin/env bash
# Forward-auth over loopback, in one run (SQLite store): requests per second through nginx with
# `auth_request` to Warden (examples/nginx-forward-auth/nginx.conf) against the same nginx
# proxying the same upstream without it; and `GET /v1/forward-auth` asked directly, with
# Warden's CPU seconds per decision. Warden is pinned to core 0; nginx (one worker), the
# upstream (an nginx `return 200`) and the load generator share core 1.
#   DURATION=10 CONCURRENCY=32 scripts/bench-forward-auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-32}"
WARDEN_PORT=18181 PROXY_PORT=18182 BARE_PORT=18183 UPSTREAM_PORT=18184
NGINX=/usr/sbin/nginx

cargo build --release --locked -p warden-cli -p warden-loadgen >&2
W=target/release/warden
L=target/release/warden-load

cpu_seconds() {
  awk -v tick="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / tick}' "/proc/$1/stat"
}

dir=$(mktemp -d)
cleanup() {
  [ -f "$dir/nginx/nginx.pid" ] && kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

export WARDEN_DATA_DIR="$dir/data" WARDEN_LISTEN="127.0.0.1:$WARDEN_PORT" WARDEN_LOG=warn
export WARDEN_ADMIN_PASSWORD='bench admin passphrase' WARDEN_CONFIG="$dir/warden.toml"
export WARDEN_TOKEN_RATE=100000 WARDEN_TOKEN_BURST=100000
unset DATABASE_URL
cp examples/nginx-forward-auth/warden.toml "$WARDEN_CONFIG"
$W init >/dev/null
echo 'bench passphrase 1' | $W user create --email bench@example.com --password-stdin >/dev/null
$W role create reader -p documents:read >/dev/null
$W role grant --user bench@example.com --role reader >/dev/null
taskset -c 0 $W serve >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$WARDEN_PORT/healthz" >/dev/null && break; sleep 0.2; done

# The example's configuration, plus a bare proxy and the upstream in the same nginx.
mkdir -p "$dir/nginx/logs"
sed -e "s/WARDEN_ADDR/127.0.0.1:$WARDEN_PORT/" -e "s/UPSTREAM_ADDR/127.0.0.1:$UPSTREAM_PORT/" \
    -e "s/LISTEN_ADDR/127.0.0.1:$PROXY_PORT/" examples/nginx-forward-auth/nginx.conf \
  | sed -e '$d' > "$dir/nginx/nginx.conf"
cat >> "$dir/nginx/nginx.conf" <<CONF
    server {
        listen 127.0.0.1:$BARE_PORT;
        location / { proxy_pass http://127.0.0.1:$UPSTREAM_PORT; }
    }
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / { return 200 "ok\n"; }
    }
}
CONF
taskset -c 1 $NGINX -p "$dir/nginx" -c "$dir/nginx/nginx.conf"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$BARE_PORT/" >/dev/null && break; sleep 0.1; done

run() {
  taskset -c 1 $L --url="$1" --warden-url="http://127.0.0.1:$WARDEN_PORT" --mode="$2" \
    --concurrency="$CONCURRENCY" --duration="$DURATION"
}
rate() { grep -o 'rps=[0-9.]*' <<<"$1" | cut -d= -f2; }

bare=$(run "http://127.0.0.1:$BARE_PORT" proxied)
echo "nginx alone -> upstream: $bare"
before=$(cpu_seconds "$pid")
guarded=$(run "http://127.0.0.1:$PROXY_PORT" proxied)
after=$(cpu_seconds "$pid")
echo "nginx + forward-auth -> upstream: $guarded  warden_cpu_s=$(awk -v a="$after" -v b="$before" 'BEGIN{printf "%.2f", a-b}')"
before=$(cpu_seconds "$pid")
direct=$(run "http://127.0.0.1:$WARDEN_PORT" forward-auth)
after=$(cpu_seconds "$pid")
cpu=$(awk -v a="$after" -v b="$before" 'BEGIN{printf "%.2f", a-b}')
echo "GET /v1/forward-auth direct: $direct  warden_cpu_s=$cpu"
awk -v g="$(rate "$guarded")" -v b="$(rate "$bare")" 'BEGIN{printf "ratio guarded/bare: %.2f\n", g/b}'
awk -v r="$(rate "$direct")" -v c="$cpu" -v d="$DURATION" \
  'BEGIN{printf "decisions per Warden CPU second: %.0f (%.1f us CPU per decision)\n", r*d/c, c*1e6/(r*d)}'
