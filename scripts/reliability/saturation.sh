#!/usr/bin/env bash
# Saturation per endpoint class: the token endpoint (client_credentials), the decision API
# (POST /v1/check) and the admin API (GET /v1/users?limit=20), closed loop at rising
# concurrency. The saturation point is the highest rate; its p99 is printed beside it.
#   [BACKENDS="sqlite postgres"] [DURATION=10] scripts/reliability/saturation.sh
source "$(dirname "$0")/common.sh"
build
for backend in ${BACKENDS:-sqlite postgres}; do
  start_warden "$backend"
  for mode in client-credentials check admin; do
    best=0 best_line=""
    for c in 1 4 16 64; do
      line=$(load "$mode" --concurrency="$c" --duration="${DURATION:-10}")
      rps=$(field rps "$line")
      echo "[$backend] $line" >&2
      if awk -v a="$rps" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$rps best_line=$line; fi
    done
    echo "[$backend] saturation $mode: $best_line"
  done
  stop_warden
done
