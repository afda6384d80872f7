#!/usr/bin/env bash
# Google's fake Pub/Sub server: the Go program in tests/services/pstest/,
# built once into .cache/bin/pstest (rebuilt when its sources change).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
src="$root/tests/services/pstest"
bin="$root/.cache/bin/pstest"
if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f)" ]; then
  exit 0
fi
if ! command -v go >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
mkdir -p "$(dirname "$bin")"
# GOTOOLCHAIN=auto fetches the Go release go.mod asks for (from the module
# proxy) when the installed one is older.
cd "$src" && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go build -o "$bin" .
echo "built $bin" >&2
