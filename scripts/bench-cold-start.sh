#!/usr/bin/env bash
# Cold start at scale: fills a fresh store (SQLite, then PostgreSQL) with USERS users (default
# 1,000,000) holding two roles each in one account, POLICIES Cedar policies (default 10,000) and
# RESOURCES registered resources with two attributes each (default 1,000,000), straight through
# SQL (the change log filled by the triggers, as for any write). Then it starts `warden serve`
# and reports how long it takes to be ready (/readyz 200) and its resident memory, beside the
# same figures for the empty store, measured in the same run. Then it applies a role grant
# through the CLI and reports how long until a decision through the running server sees it.
#   USERS=1000000 POLICIES=10000 RESOURCES=1000000 [BACKENDS="sqlite postgres"] scripts/bench-cold-start.sh
# KEEP=1 keeps the seeded data (and says where) to profile a start against it.
# REFERENCE_BIN=path also starts that build of warden against the same full store, before and
# after this one, so a change is measured against what it replaces in one run.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-1000000}"
POLICIES="${POLICIES:-10000}"
RESOURCES="${RESOURCES:-1000000}"
PORT=18191
PG_ADMIN="${WARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
# Built together with the load generator, as bench-http.sh builds, so the two share artifacts.
cargo build --release --locked -p warden-cli -p warden-loadgen >&2
W=target/release/warden

measure() {
  local dir=$1 label=$2 bin=${3:-$W} started pid ready rss
  started=$(date +%s.%N)
  WARDEN_DATA_DIR="$dir" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG=warn "$bin" serve >/dev/null 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
  ready=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  echo "[$label] ready_in=${ready}s rss=${rss}MiB"
  if [ "${PROPAGATE:-0}" = 1 ]; then propagation; fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# A change applied at that size (a role granted through the CLI, another process) until the
# running server decides with it: the bench user asks /v1/check for a permission only the new
# role gives, every 10 ms.
propagation() {
  local token started granted took since answer
  token=$(curl -sf "http://127.0.0.1:$PORT/oauth/token" -d grant_type=password \
    -d username=probe@bench.example --data-urlencode 'password=bench probe passphrase' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  started=$(date +%s.%N)
  $W role grant --user probe@bench.example --role auditor >/dev/null
  granted=$(date +%s.%N)
  until answer=$(curl -sf "http://127.0.0.1:$PORT/v1/check" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d '{"action": "reports:read", "resource": {"type": "report", "id": "r1"}}') &&
    [[ $answer == *'"allowed":true'* ]]; do sleep 0.01; done
  took=$(date +%s.%N)
  since=$(awk -v s="$granted" -v e="$took" 'BEGIN {printf "%.3f", e - s}')
  took=$(awk -v s="$started" -v e="$took" 'BEGIN {printf "%.3f", e - s}')
  echo "[change] a role grant reached decisions ${since}s after the CLI returned (${took}s from its start)"
}

seed_sqlite() {
  local db
  db=$(ls "$WARDEN_DATA_DIR"/*.db | head -n 1)
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
}

# The same data set, generated inside PostgreSQL.
seed_postgres() {
  local started
  started=$(date +%s)
  psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -v account="$account" -v users="$USERS" \
    -v policies="$POLICIES" -v resources="$RESOURCES" -v now="$(date +%s%3N)" <<'SQL'
BEGIN;
CREATE TEMP TABLE bench_ids AS
  SELECT i, gen_random_uuid()::text AS id FROM generate_series(0, :users - 1) AS i;
CREATE INDEX ON bench_ids (i);
INSERT INTO users (id, email, status, attributes, created_at, updated_at)
  SELECT id, 'u' || i || '@bench.example', 'active', '{}', :now, :now FROM bench_ids;
INSERT INTO memberships (account_id, user_id, created_at)
  SELECT :'account', id, :now FROM bench_ids;
INSERT INTO role_assignments (user_id, role_id, account_id, scope, created_at)
  SELECT b.id, r.id, :'account', :'account', :now FROM bench_ids b
  CROSS JOIN (SELECT id FROM roles WHERE name IN ('reader', 'editor') AND scope = :'account') r;
INSERT INTO policies (id, account_id, scope, description, cedar, enabled, created_at, updated_at)
  SELECT gen_random_uuid()::text, :'account', :'account', '',
    format('permit(principal, action == Action::"documents:edit", resource == document::"doc-%s") when { resource has owner_id && resource.owner_id == principal.id };', i),
    1, :now, :now
  FROM generate_series(0, :policies - 1) AS i;
INSERT INTO resources (key, account_id, scope, kind, resource_id, attributes, parents, created_at, updated_at)
  SELECT :'account' || E'\ndocument\n' || rid, :'account', :'account', 'document', rid,
    json_build_object('owner_id', coalesce(b.id, 'nobody'), 'status', CASE WHEN g % 10 = 0 THEN 'archived' ELSE 'active' END)::text,
    '[]', :now, :now
  FROM generate_series(0, :resources - 1) AS g
  CROSS JOIN LATERAL (SELECT 'doc-' || lpad(g::text, 7, '0') AS rid) AS named
  LEFT JOIN bench_ids b ON b.i = g % greatest(:users, 1);
COMMIT;
ANALYZE;
SQL
  echo "  seeded PostgreSQL in $(($(date +%s) - started))s" >&2
}

for backend in ${BACKENDS:-sqlite postgres}; do
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  export WARDEN_DATA_DIR="$dir" WARDEN_ADMIN_PASSWORD='bench admin passphrase'
  export WARDEN_ISSUER="http://127.0.0.1:$PORT"
  unset DATABASE_URL
  if [ "$backend" = postgres ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_cold WITH (FORCE)" -c "CREATE DATABASE warden_cold" >/dev/null
    export DATABASE_URL="${PG_ADMIN%/*}/warden_cold"
  fi
  $W init >/dev/null 2>&1
  PROPAGATE=0 measure "$dir" "$backend: empty"
  account=$($W account create bench | awk '{print $3}')
  $W role create reader --account bench -p documents:read >/dev/null
  $W role create editor --account bench -p documents:edit >/dev/null
  $W role create auditor -p reports:read >/dev/null
  echo 'bench probe passphrase' | $W user create --email probe@bench.example --password-stdin >/dev/null
  "seed_$backend"
  full="$backend: $USERS users x 2 roles, $POLICIES policies, $RESOURCES resources"
  if [ -n "${REFERENCE_BIN:-}" ]; then PROPAGATE=0 measure "$dir" "$full, reference" "$REFERENCE_BIN"; fi
  PROPAGATE=1 measure "$dir" "$full"
  if [ -n "${REFERENCE_BIN:-}" ]; then
    PROPAGATE=0 measure "$dir" "$full, reference" "$REFERENCE_BIN"
    PROPAGATE=0 measure "$dir" "$full"
  fi
  if [ -n "${KEEP:-}" ]; then
    echo "kept the $backend data: WARDEN_DATA_DIR=$dir${DATABASE_URL:+ DATABASE_URL=$DATABASE_URL}"
    trap - EXIT
    continue
  fi
  if [ "$backend" = postgres ]; then psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS warden_cold WITH (FORCE)" >/dev/null; fi
  rm -rf "$dir"
done
