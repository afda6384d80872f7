#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs Deno and every test
# server that is missing, then runs all tests and prints a closing line
# "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
deno="$(bash scripts/ensure_deno.sh)"
# Only when it is not the deno on PATH already (then it is our own).
[ "$(command -v deno || true)" = "$deno" ] || export PATH="$(dirname "$deno"):$PATH"
bash tests/services/install.sh
export NO_COLOR=1
log="$(mktemp)"
status=0
deno task --quiet test "$@" 2>&1 | tee "$log" || status=$?
summary="$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1 || true)"
rm -f "$log"
if [ -n "$summary" ]; then
  passed="$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")"
  failed="$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")"
  echo "$passed passed, $failed failed"
fi
exit "$status"
