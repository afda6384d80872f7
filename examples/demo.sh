#!/usr/bin/env bash
# A real minion job from a fresh clone, on the built-in shared-filesystem
# queue (engine execo): a sweep of 12 params drained by two minions started
# side by side, as two nodes of a cluster would, then what they reported.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
deno="$(bash "$repo/scripts/ensure_deno.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
minionize() { "$deno" run -A --quiet "$repo/cli.ts" "$@"; }

echo "== a sweep: every combination of size and algo (execo's sweep semantics)"
minionize sweep create --param size=10,100,1000 --param algo=sgd,adam --param seed=1,2
minionize sweep status

echo "== two minions share it, two tasks in flight each"
export MINION_REPORTER=json
minionize -j 2 sh -c 'sleep 0.2; echo "minion $MINION_ID ran size=$1 algo=$2 seed=$3"' task {size} {algo} {seed} &
minionize -j 2 sh -c 'sleep 0.2; echo "minion $MINION_ID ran size=$1 algo=$2 seed=$3"' task {size} {algo} {seed} &
wait

echo "== the sweep is done"
minionize sweep status
echo "== what the minions reported"
minionize status
