#!/usr/bin/env bash
# Allocations per request: calls to libc's malloc in a release Warden (a perf uprobe, which
# slows every call, so read the counts, not the rates) over a load-generator run, divided by
# the requests served. RECORD=1 records their call graphs instead (/tmp/perf.malloc.<mode>).
#   [MODES="trivial check evaluation"] scripts/bench-allocations.sh
# Needs perf (Debian's linux-perf) and root for the uprobe.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p warden-cli -p warden-loadgen >&2
perf probe -l 2>/dev/null | grep -q probe_libc:malloc ||
  perf probe -x "$(ldd target/release/warden | awk '/libc.so/ {print $3}')" malloc >/dev/null
W=target/release/warden; L=target/release/warden-load; PORT=18183
dir=$(mktemp -d); trap 'rm -rf "$dir"; kill $pid 2>/dev/null || true' EXIT
export WARDEN_DATA_DIR="$dir" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG=warn WARDEN_ISSUER="http://127.0.0.1:$PORT"
export WARDEN_ADMIN_PASSWORD='bench admin passphrase' WARDEN_TOKEN_RATE=100000 WARDEN_TOKEN_BURST=100000
unset DATABASE_URL
$W init >/dev/null 2>&1
echo 'bench passphrase 1' | $W user create --email bench@example.com --password-stdin >/dev/null
$W role create reader -p documents:read -p warden.check:any >/dev/null
$W role grant --user bench@example.com --role reader >/dev/null
subject=$($W user list | awk '/bench@example.com/ {print $1}')
taskset -c 0 $W serve >/dev/null 2>&1 & pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
for mode in ${MODES:-trivial check evaluation}; do
  if [ -n "${RECORD:-}" ]; then perf record -e probe_libc:malloc --call-graph dwarf,8192 -p $pid -o /tmp/perf.malloc.$mode -- sleep 3 >/dev/null 2>&1 & else perf stat -e probe_libc:malloc -p $pid -x, -o /tmp/perf.stat -- sleep ${DURATION:-6} & fi
  sp=$!
  sleep 0.5
  out=$(taskset -c 1 $L --url="http://127.0.0.1:$PORT" --mode="$mode" --concurrency=${CONCURRENCY:-32} --duration=5 --subject="$subject")
  wait $sp
  mallocs=$(awk -F, '/probe_libc:malloc/ {print $1}' /tmp/perf.stat)
  ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<"$out")
  echo "$mode: $out mallocs_per_request=$(awk -v m="$mallocs" -v n="$ok" 'BEGIN {printf "%.1f", m / n}')"
done
