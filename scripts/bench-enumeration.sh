#!/usr/bin/env bash
# Timing samples for the no-enumeration rule: the password grant answered for an unknown user,
# a wrong password, a disabled user and a locked identifier, with the default (OWASP) argon2
# cost. Each case uses fresh identifiers, so no case drifts into another (five failures lock an
# identifier). Prints, per case, the status and body seen and the median and p90 latency.
#   SAMPLES=30 scripts/bench-enumeration.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLES="${SAMPLES:-30}"
PORT=18182
cargo build --release --locked -p warden-cli >&2
W=target/release/warden
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
export WARDEN_DATA_DIR="$dir" WARDEN_LISTEN="127.0.0.1:$PORT" WARDEN_LOG=warn
export WARDEN_ADMIN_PASSWORD='bench admin passphrase'
export WARDEN_TOKEN_RATE=100000 WARDEN_TOKEN_BURST=100000
unset DATABASE_URL
$W init >/dev/null
for i in $(seq 1 "$SAMPLES"); do
  echo 'the right passphrase' | $W user create --email "wrong$i@example.com" --password-stdin >/dev/null
  echo 'the right passphrase' | $W user create --email "disabled$i@example.com" --password-stdin >/dev/null
  $W user disable "disabled$i@example.com" >/dev/null
  echo 'the right passphrase' | $W user create --email "locked$i@example.com" --password-stdin >/dev/null
done
$W serve >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

login() { # user password -> "status time body"
  curl -s -o "$dir/body" -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT/oauth/token" \
    -d grant_type=password --data-urlencode "username=$1" --data-urlencode "password=$2"
}

report() { # name, then samples on stdin as "status time"
  sort -k2 -n | awk -v name="$1" '{s[NR]=$2; st[$1]++} END {
    codes=""; for (c in st) codes=codes c "x" st[c] " ";
    printf "%-16s n=%d status=%s median=%.1fms p90=%.1fms\n", name, NR, codes, s[int((NR+1)/2)]*1000, s[int(NR*0.9)]*1000 }'
}
for case in unknown wrong disabled locked; do
  for i in $(seq 1 "$SAMPLES"); do
    case $case in
      unknown) login "nobody$i@example.com" 'the right passphrase' ;;
      wrong) login "wrong$i@example.com" 'not the passphrase' ;;
      disabled) login "disabled$i@example.com" 'the right passphrase' ;;
      locked)
        # Five free failures, a sixth that sets a 1 s lock, then the right password at once:
        # refused while locked, like any failure.
        for _ in 1 2 3 4 5 6; do login "locked$i@example.com" 'not it' >/dev/null; done
        login "locked$i@example.com" 'the right passphrase' ;;
    esac
    echo
  done | report "$case"
  echo "  body: $(cat "$dir/body")"
done
