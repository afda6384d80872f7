#!/usr/bin/env bash
# RabbitMQ for the rabbitmq engine's tests: Debian's rabbitmq-server (and the
# Erlang runtime it pulls in). The tests start their own node on free
# loopback ports, so the package's own service is neither needed nor started.
set -euo pipefail
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null; then
  exit 0
fi
apt-get -o DPkg::Lock::Timeout=600 update -qq
# Keep the package's init script from starting a system node (no systemd
# here, and a node on 5672 would only be in the way).
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends rabbitmq-server >/dev/null
if [ -n "$made_policy" ]; then rm -f "$policy"; fi
