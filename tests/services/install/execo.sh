#!/usr/bin/env bash
# Python execo (its ParamSweeper writes the sweeps the execo engine imports)
# and the original minionize 0.3.4 (the P2 benchmark's baseline), in a venv
# under .cache/venv. numpy is held below 2: the pandas that minionize 0.3.4
# pulls in is built against numpy 1 and fails to import with numpy 2.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$root/.cache/venv"
if "$venv/bin/python" -c 'import execo_engine.sweep, minionize, pandas' 2>/dev/null; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
mkdir -p "$root/.cache"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  execo==2.8.2 minionize==0.3.4 'numpy<2'
"$venv/bin/python" -c 'import execo_engine.sweep, minionize, pandas'
