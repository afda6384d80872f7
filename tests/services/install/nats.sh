#!/usr/bin/env bash
# NATS with JetStream (Debian's nats-server 2.9, run with -js) for the nats
# engine's tests. Debian installs it under /usr/sbin.
set -euo pipefail
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi
