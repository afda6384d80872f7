#!/usr/bin/env bash
# Redis 7 (Debian's redis-server) for the redis engine's tests.
set -euo pipefail
if ! command -v redis-server >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
