#!/usr/bin/env bash
# The long run of the crash tests: KILLS (default 200) SIGKILLs of `warden serve` in the middle
# of writes, on SQLite and on PostgreSQL; after each, every acknowledged user creation is stored
# and the audit chain verifies. The test command runs the same tests with 5 kills each.
#   [KILLS=200] scripts/reliability/kills.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export WARDEN_TEST_POSTGRES_URL="${WARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
WARDEN_FAULT_KILLS="${KILLS:-200}" cargo nextest run --locked --profile reliability -p warden-cli \
  -E 'test(/sigkill_in_the_middle_of_writes/)' --no-capture 2>&1 \
  | grep -E 'SIGKILLs|PASS|FAIL|panicked'
