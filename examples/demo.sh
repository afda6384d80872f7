#!/usr/bin/env bash
# A real minion job from a fresh clone: 10 params drained by a minion
# running two tasks at a time, then its report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_deno.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
minionize() { deno run -A --quiet "$OLDPWD/cli.ts" "$@"; }
cd "$work"
export MINION_ENGINE=file
seq 0 9 > params
echo "== a minion runs echo hello once per param (file engine, -j 2)"
FILE_PATH=params minionize -j 2 --reporter json echo hello
echo "== what they reported"
minionize status
