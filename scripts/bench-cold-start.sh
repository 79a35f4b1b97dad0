#!/usr/bin/env bash
# Cold start at scale: fills a fresh SQLite store with USERS users (default 1,000,000) holding
# two roles each in one account, POLICIES Cedar policies (default 10,000) and RESOURCES
# registered resources with two attributes each (default 1,000,000), straight through SQL in
# one transaction per table (the change log filled by the triggers, as for any write). Then it
# starts `warden serve` and reports how long it takes to be ready (/readyz 200) and its
# resident memory, beside the same figures for the empty store, measured in the same run.
#   USERS=1000000 POLICIES=10000 RESOURCES=1000000 scripts/bench-cold-start.sh
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-1000000}"
POLICIES="${POLICIES:-10000}"
RESOURCES="${RESOURCES:-1000000}"
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
  echo "[$label] ready_in=${ready}s rss=${rss}MiB"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
WARDEN_DATA_DIR="$dir" WARDEN_ADMIN_PASSWORD='bench admin passphrase' $W init >/dev/null
measure "$dir" "empty"
export WARDEN_DATA_DIR="$dir"
account=$($W account create bench | awk '{print $3}')
$W role create reader --account bench -p documents:read >/dev/null
$W role create editor --account bench -p documents:edit >/dev/null
db=$(ls "$dir"/*.db | head -n 1)
python3 - "$db" "$account" "$USERS" "$POLICIES" "$RESOURCES" <<'PY'
import json, sqlite3, sys, time, uuid
db, account = sys.argv[1], sys.argv[2]
users, policies, resources = (int(n) for n in sys.argv[3:6])
conn = sqlite3.connect(db)
conn.execute("PRAGMA foreign_keys = ON")
now = int(time.time() * 1000)
roles = [row[0] for row in conn.execute("SELECT id FROM roles WHERE name IN ('reader', 'editor') AND scope = ?", (account,))]
assert len(roles) == 2, roles

def timed(what, rows_of):
    started = time.time()
    with conn:
        rows_of()
    print(f"  {what} in {time.time() - started:.1f}s", file=sys.stderr)

ids = [str(uuid.uuid4()) for _ in range(users)]
timed(f"{users} users", lambda: conn.executemany(
    "INSERT INTO users (id, email, status, attributes, created_at, updated_at) VALUES (?, ?, 'active', '{}', ?, ?)",
    ((uid, f"u{i}@bench.example", now, now) for i, uid in enumerate(ids))))
timed("their memberships", lambda: conn.executemany(
    "INSERT INTO memberships (account_id, user_id, created_at) VALUES (?, ?, ?)",
    ((account, uid, now) for uid in ids)))
timed("two roles each", lambda: conn.executemany(
    "INSERT INTO role_assignments (user_id, role_id, account_id, scope, created_at) VALUES (?, ?, ?, ?, ?)",
    ((uid, role, account, account, now) for uid in ids for role in roles)))
cedar = 'permit(principal, action == Action::"documents:edit", resource == document::"doc-{i}") when {{ resource has owner_id && resource.owner_id == principal.id }};'
timed(f"{policies} policies", lambda: conn.executemany(
    "INSERT INTO policies (id, account_id, scope, description, cedar, enabled, created_at, updated_at) VALUES (?, ?, ?, '', ?, 1, ?, ?)",
    ((str(uuid.uuid4()), account, account, cedar.format(i=i), now, now) for i in range(policies))))
def resource_rows():
    for i in range(resources):
        rid = f"doc-{i:07d}"
        attributes = json.dumps({"owner_id": ids[i % len(ids)] if ids else "nobody", "status": "archived" if i % 10 == 0 else "active"}, separators=(",", ":"))
        yield (f"{account}\ndocument\n{rid}", account, account, "document", rid, attributes, "[]", now, now)
timed(f"{resources} resources", lambda: conn.executemany(
    "INSERT INTO resources (key, account_id, scope, kind, resource_id, attributes, parents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    resource_rows()))
PY
measure "$dir" "$USERS users x 2 roles, $POLICIES policies, $RESOURCES resources"
