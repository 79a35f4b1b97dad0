#!/usr/bin/env bash
# Runs the README's command-line block, as written, in a fresh directory with a fresh store:
# every command there must work when pasted. Uses the debug build unless WARDEN_BIN is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath -m "${WARDEN_BIN:-target/debug/warden}")"
[ -x "$bin" ] || cargo build --locked -p warden-cli
block=$(awk '/^## The command line/ {inside = 1} inside && /^```sh$/ {grab = 1; next} grab && /^```$/ {exit} grab {print}' README.md)
[ -n "$block" ] || { echo "no command-line block found in README.md" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin"
ln -s "$bin" "$dir/bin/warden"
cd "$dir"
unset DATABASE_URL WARDEN_DATA_DIR WARDEN_DATABASE_URL
export PATH="$dir/bin:$PATH" WARDEN_LOG=warn WARDEN_ADMIN_PASSWORD='readme admin passphrase'
# Cheap password hashing, by configuration.
export WARDEN_ARGON2_MEMORY_KIB=${WARDEN_ARGON2_MEMORY_KIB:-1024} WARDEN_ARGON2_ITERATIONS=${WARDEN_ARGON2_ITERATIONS:-1}
printf '%s\n' "set -euo pipefail" "$block" > readme.sh
if ! bash -x readme.sh > out.txt 2>&1; then
  cat out.txt >&2
  echo "a README command failed (above)" >&2
  exit 1
fi
echo "README command-line block: $(grep -c '^+ warden' out.txt) warden commands ran"
