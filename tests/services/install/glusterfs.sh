#!/usr/bin/env bash
# Two filesystem clients of one directory on one machine, for the execo
# engine's multi-host tests (tests/services/shared_fs.ts): GlusterFS 10
# (glusterd, and the FUSE client behind `mount -t glusterfs`), bindfs (FUSE
# mounts whose locks stay local), and faketime (a minion whose clock is off).
# Nothing is configured or started here: shared_fs.ts starts glusterd with a
# configuration of its own when it is not running, and makes its volumes.
set -euo pipefail
need=()
command -v glusterd >/dev/null || need+=(glusterfs-server)
command -v mount.glusterfs >/dev/null || need+=(glusterfs-client)
command -v bindfs >/dev/null || need+=(bindfs)
command -v faketime >/dev/null || need+=(faketime)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
# Bricks need a host name that resolves to a loopback address (GlusterFS
# refuses localhost and 127.0.0.1 themselves): the host's own name when it
# does, else this alias, which tests/services/glusterfs.ts falls back to.
if ! getent ahostsv4 "$(hostname)" | grep -q '^127\.' &&
  ! getent hosts "$(hostname)" | grep -q '^127\.' &&
  ! getent hosts minionize-gluster >/dev/null; then
  echo '127.0.1.1 minionize-gluster' >>/etc/hosts
fi
