#!/usr/bin/env bash
# The resource registry at scale: loads N registered resources (default 1,000,000) with two
# attributes each straight into a fresh SQLite store (one transaction, the change log filled by
# its triggers as for any write), then starts `warden serve` and reports how long it takes to
# be ready (/readyz 200) and its resident memory, beside the same figures for the same store
# without resources, measured in the same run.
#   N=1000000 scripts/bench-registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-1000000}"
PORT=18191
cargo build --release --locked -p warden-cli >&2
W=target/release/warden

measure() {
  local dir=$1 label=$2 started pid ready rss
  started=$(date +%s.%N)
  WARDEN_DATA_DIR="$dir" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG=warn $W serve >/dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
  ready=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  echo "[$label] ready_in=${ready}s rss=${rss}MiB $(awk '/^(Rss|Anonymous|Private_Dirty)/ {printf "%s%.0fMiB ", $1, $2/1024}' /proc/$pid/smaps_rollup)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
WARDEN_DATA_DIR="$dir" WARDEN_ADMIN_PASSWORD='bench admin passphrase' $W init >/dev/null
measure "$dir" "0 resources"
db=$(ls "$dir"/*.db | head -n 1)
account=$(WARDEN_DATA_DIR="$dir" $W account create bench | awk '{print $3}')
python3 - "$db" "$N" "$account" <<'PY'
import json, sqlite3, sys, time
db, n, account = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = sqlite3.connect(db)
now = int(time.time() * 1000)
def rows():
    for i in range(n):
        rid = f"doc-{i:07d}"
        attributes = json.dumps({"owner_id": f"user-{i % 5000}", "status": "active" if i % 10 else "archived"}, separators=(",", ":"))
        yield (f"{account}\ndocument\n{rid}", account, account, "document", rid, attributes, "[]", now, now)
started = time.time()
with conn:
    conn.executemany("INSERT INTO resources (key, account_id, scope, kind, resource_id, attributes, parents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
print(f"loaded {n} resources into SQLite in {time.time() - started:.1f}s")
PY
measure "$dir" "$N resources"
