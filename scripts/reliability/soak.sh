#!/usr/bin/env bash
# Soak: POST /v1/check, open loop at 70 % of the saturation rate measured first on the same
# server, for SOAK_MINUTES (default 10) one-minute runs. Every answer must be 200; resident
# memory and open files after the last minute are compared with those after the first.
#   [BACKEND=sqlite] [SOAK_MINUTES=10] scripts/reliability/soak.sh
source "$(dirname "$0")/common.sh"
build
backend=${BACKEND:-sqlite}
start_warden "$backend"
saturated=$(load check --concurrency=16 --duration=10)
rate=$(awk -v r="$(field rps "$saturated")" 'BEGIN {printf "%.0f", r * 0.7}')
echo "[$backend] saturation: $saturated"
echo "[$backend] soak at $rate/s (70 %) for ${SOAK_MINUTES:-10} minutes"
bad=0
for minute in $(seq 1 "${SOAK_MINUTES:-10}"); do
  line=$(load check --rate="$rate" --concurrency=64 --duration=60)
  rss=$(rss_kib "$WARDEN_PID") fds=$(open_files "$WARDEN_PID")
  echo "[$backend] minute $minute: $line rss=${rss}KiB open_files=$fds"
  if [ "$minute" = 1 ]; then first_rss=$rss first_fds=$fds; fi
  for f in refused_429 refused_503 other errors; do
    bad=$((bad + $(field "$f" "$line")))
  done
done
awk -v a="$first_rss" -v b="$rss" -v fa="$first_fds" -v fb="$fds" -v bad="$bad" 'BEGIN {
  printf "soak result: %d answers other than 200; rss %d -> %d KiB (%+.1f %%); open files %d -> %d (%+.1f %%)\n",
    bad, a, b, (b - a) * 100 / a, fa, fb, (fb - fa) * 100 / fa
  exit !(bad == 0 && b <= a * 1.1 && fb <= fa * 1.1)
}'
