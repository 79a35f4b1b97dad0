#!/usr/bin/env bash
# Overload: MODE (default client-credentials: the token endpoint, which a login storm hits)
# open loop at 70 % of saturation (the baseline p99), then at twice saturation, then at 70 %
# again second by second until the p99 is back within twice the baseline with nothing refused.
# Refusals must be 429 or 503 with Retry-After. MAX_IN_FLIGHT (default 16) is the node's
# max_in_flight for the run, OVERLOAD_DELAY_MS (default 1; 0: off) its overload_delay_ms. (POST /v1/check costs the load generator about what it costs
# Warden, so one generator core cannot offer a Warden core twice its capacity there.)
#   [BACKEND=sqlite] [MODE=client-credentials] [MAX_IN_FLIGHT=16] [OVERLOAD_DELAY_MS=1] \
#     scripts/reliability/overload.sh
source "$(dirname "$0")/common.sh"
build
backend=${BACKEND:-sqlite}
start_warden "$backend" WARDEN_MAX_IN_FLIGHT="${MAX_IN_FLIGHT:-16}" \
  WARDEN_OVERLOAD_DELAY_MS="${OVERLOAD_DELAY_MS:-1}"
mode=${MODE:-client-credentials}
saturated=$(load "$mode" --concurrency=16 --duration=10)
s=$(field rps "$saturated")
calm=$(awk -v r="$s" 'BEGIN {printf "%.0f", r * 0.7}')
double=$(awk -v r="$s" 'BEGIN {printf "%.0f", r * 2}')
echo "[$backend] saturation: $saturated"
base=$(load "$mode" --rate="$calm" --concurrency=64 --duration=15)
echo "[$backend] 70 %: $base"
over=$(load "$mode" --rate="$double" --concurrency=512 --duration=15)
echo "[$backend] 200 %: $over"
p99_base=$(field p99 "$base")
p99_over=$(field p99 "$over")
if awk -v p="$p99_over" -v b="$p99_base" 'BEGIN {exit !(p <= 2 * b)}'; then
  echo "[$backend] the accepted requests' p99 is kept at 200 %: $p99_over ms against $p99_base ms at 70 %"
else
  echo "[$backend] the accepted requests' p99 is NOT kept at 200 %: $p99_over ms against $p99_base ms at 70 %"
fi
recovered=""
for second in $(seq 1 15); do
  line=$(load "$mode" --rate="$calm" --concurrency=64 --duration=1)
  refused=$(( $(field refused_429 "$line") + $(field refused_503 "$line") + $(field errors "$line") + $(field other "$line") ))
  if [ "$refused" = 0 ] && [ "$(field ok "$line")" != 0 ] \
    && awk -v p="$(field p99 "$line")" -v b="$p99_base" 'BEGIN {exit !(p <= 2 * b)}'; then
    echo "[$backend] recovered in second $second after the overload: $line"
    recovered=$second
    break
  fi
  echo "[$backend] second $second after the overload: $line"
done
missing=$(field without_retry_after "$over") other=$(( $(field other "$over") + $(field errors "$over") ))
echo "[$backend] overload: $missing refusals without Retry-After; $other other answers or errors"
[ "$missing" = 0 ] && [ "$other" = 0 ] || { echo "overload answered outside 429/503 + Retry-After"; exit 1; }
[ -n "$recovered" ] && [ "$recovered" -le 10 ] || { echo "no recovery within 10 s"; exit 1; }
