#!/usr/bin/env bash
# PostgreSQL restarted, then paused (SIGSTOP of every postgres process for PAUSE seconds),
# under load: user creations (writes) and checks (the in-memory hot path) at fixed rates.
# Warden must not crash, must answer 503 (never 500) while the database is away, recover, and
# keep every user whose creation it acknowledged. Restarts this machine's PostgreSQL: run it
# alone, not beside the test suite.
#   [PAUSE=5] scripts/reliability/postgres.sh
source "$(dirname "$0")/common.sh"
build
# Cheap password hashing: this measures the database going away, not argon2.
start_warden postgres WARDEN_ARGON2_MEMORY_KIB=1024 WARDEN_ARGON2_ITERATIONS=1
# The cluster serving port 5432 (one version is installed here).
cluster=$(pg_lsclusters -h | awk '$3 == 5432 {print $1; exit}')
count() { psql "$DATABASE_URL" -qtAc "SELECT count(*) FROM users"; }
before=$(count)
out=$(mktemp -d)
load create-user --rate=200 --concurrency=16 --duration=40 >"$out/writes" &
writes=$!
load check --rate=5000 --concurrency=64 --duration=40 >"$out/checks" &
checks=$!
sleep 10
started=$(date +%s.%N)
pg_ctlcluster --skip-systemctl-redirect "$cluster" main restart
echo "postgres restarted in $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
sleep 10
pids=$(pgrep -u postgres -x postgres | tr '\n' ' ')
# Never leave the database frozen, however this script ends.
trap 'kill -CONT $pids 2>/dev/null || true; stop_warden' EXIT
kill -STOP $pids
echo "postgres paused for ${PAUSE:-5} s"
sleep "${PAUSE:-5}"
kill -CONT $pids
wait "$writes"
wait "$checks"
kill -0 "$WARDEN_PID" && echo "warden is still running" || { echo "warden died"; exit 1; }
for _ in $(seq 1 50); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "$BASE/readyz" >/dev/null && echo "ready again"
echo "writes: $(cat "$out/writes")"
echo "checks: $(cat "$out/checks")"
after=$(count)
acknowledged=$(field ok "$(cat "$out/writes")")
echo "users: $before before, $after after, $acknowledged creations acknowledged"
unexpected=$(( $(field other "$(cat "$out/writes")") + $(field other "$(cat "$out/checks")") ))
echo "answers other than 2xx, 429 and 503: $unexpected"
[ "$after" -ge $((before + acknowledged)) ] || { echo "acknowledged writes were lost"; exit 1; }
[ "$unexpected" = 0 ] || { echo "answers other than 2xx, 429 and 503 (a 500?)"; exit 1; }
