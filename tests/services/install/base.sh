#!/usr/bin/env bash
# Tools the core tests and the benchmark use: GNU parallel for P1.
set -euo pipefail
need=()
command -v parallel >/dev/null || need+=(parallel)
command -v tmux >/dev/null || need+=(tmux)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
