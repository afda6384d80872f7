#!/usr/bin/env bash
# Prints the path of a Deno 2.9.6 binary on stdout, installing one when
# needed; what it did goes to stderr. Scripts run it as
#   deno="$(bash scripts/ensure_deno.sh)"; PATH="$(dirname "$deno"):$PATH"
# It never replaces a Deno of yours: the `deno` on PATH is used when it is
# 2.9.6; otherwise the pinned one is installed from the npm registry (Deno's
# own download host may be unreachable; npm ships the binary) into a place of
# its own, MINIONIZE_DENO_HOME (default: .cache/deno-2.9.6 in this clone),
# and reused from there.
set -euo pipefail
want=2.9.6
repo="$(cd "$(dirname "$0")/.." && pwd)"
home="${MINIONIZE_DENO_HOME:-$repo/.cache/deno-$want}"

is_wanted() { [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "^deno $want "; }

# The binary in an npm prefix: the package links it to node_modules/deno/deno
# when its install script runs; it is in the platform package either way.
installed() {
  local candidate
  for candidate in "$home/node_modules/deno/deno" \
    "$home"/node_modules/@deno/*/deno \
    "$home"/node_modules/deno/node_modules/@deno/*/deno; do
    if is_wanted "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if on_path="$(command -v deno 2>/dev/null)" && is_wanted "$on_path"; then
  echo "deno $want: $on_path" >&2
  echo "$on_path"
  exit 0
fi
if ! found="$(installed)"; then
  if [ -n "${on_path:-}" ]; then
    echo "deno on PATH is not $want: installing deno $want into $home (yours is left alone)" >&2
  else
    echo "no deno on PATH: installing deno $want into $home" >&2
  fi
  mkdir -p "$home"
  npm install --prefix "$home" --no-save --no-audit --no-fund --silent "deno@$want" >/dev/null
  if ! found="$(installed)"; then
    echo "ensure_deno.sh: npm installed deno $want into $home, but no working binary is there" >&2
    exit 1
  fi
fi
echo "deno $want: $found" >&2
echo "$found"
