#!/usr/bin/env bash
# Installs Deno 2.9.6 from the npm registry when it is missing or another
# version (Deno's own download host may be unreachable; npm ships the binary).
set -euo pipefail
want=2.9.6
if ! command -v deno >/dev/null 2>&1 || ! deno --version 2>/dev/null | grep -q "^deno $want "; then
  echo "installing deno $want from npm" >&2
  npm install -g --silent "deno@$want" >/dev/null
fi
deno --version | head -n 1 >&2
