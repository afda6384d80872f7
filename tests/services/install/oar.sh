#!/usr/bin/env bash
# A real OAR 2.5 for the cluster tests: Debian's oar-server, oar-node and
# oar-user (PostgreSQL flavour), with PostgreSQL 15 for its database. Nothing
# is started here: tests/services/oar.ts writes /etc/oar/oar.conf for its
# run (OAR's commands read that path only) and starts the database, the
# node's sshd and the server itself.
#
# What this changes on the machine, idempotently:
# - the packages (and what they create: the `oar` user, /etc/oar, the
#   `oar` user's SSH keys under /var/lib/oar/.ssh, openssh-server's host
#   keys). No service is started: a policy-rc.d refusing starts is put in
#   place for the installation only, when there is none;
# - a user `minionize` (home /home/minionize) that owns the test jobs: OAR
#   refuses jobs from root (its first admission rule) and runs them through
#   the job user's shell files, and `$HOME/bin` first on its PATH, where the
#   tests put the `minionize` command that examples/oar.sh calls.
set -euo pipefail

if ! command -v oarsub >/dev/null || ! command -v Almighty >/dev/null ||
  [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  policy=/usr/sbin/policy-rc.d
  added=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    oar-server oar-node oar-user postgresql-15 openssh-client >/dev/null
  if [ -n "$added" ]; then rm -f "$policy"; fi
fi

# The key bipbip uses to reach the node's sshd as `oar` (made by the
# package's postinst; made here if it was removed).
if [ ! -s /var/lib/oar/.ssh/id_rsa ]; then
  install -d -o oar -g oar -m 700 /var/lib/oar/.ssh
  runuser -u oar -- ssh-keygen -q -t rsa -N '' -f /var/lib/oar/.ssh/id_rsa
  cp /var/lib/oar/.ssh/id_rsa.pub /var/lib/oar/.ssh/authorized_keys
  chown oar:oar /var/lib/oar/.ssh/authorized_keys
fi
if [ ! -s /etc/oar/oar_ssh_host_rsa_key ]; then
  ssh-keygen -q -t rsa -N '' -f /etc/oar/oar_ssh_host_rsa_key
fi

if ! id minionize >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash minionize
fi
rc=/home/minionize/.bashrc
line='export PATH="$HOME/bin:$PATH" # minionize tests: examples/oar.sh finds minionize here'
if ! grep -qF "$line" "$rc" 2>/dev/null; then
  # First, before .bashrc returns for non-interactive shells (OAR's jobs).
  { echo "$line"; cat "$rc" 2>/dev/null || true; } >"$rc.new"
  mv "$rc.new" "$rc"
  chown minionize:minionize "$rc"
fi
install -d -o minionize -g minionize /home/minionize/bin
