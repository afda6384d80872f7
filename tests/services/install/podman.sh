#!/usr/bin/env bash
# podman for the container callback's tests, with the settings that work on
# these hosts: runc (crun fails on hybrid cgroups), and no default ulimits
# (podman's defaults exceed the hard limits here). busybox-static fills the
# test image, which is imported from a local rootfs (no registry reachable).
set -euo pipefail
need=()
command -v podman >/dev/null || need+=(podman)
[ -x /usr/sbin/runc ] || need+=(runc)
# The test image needs a static busybox: Debian's plain busybox is dynamic.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
conf=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits *= *\[\]' "$conf"; then
  mkdir -p /etc/containers
  if grep -qs '^\[containers\]' "$conf"; then
    sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
  else
    printf '[containers]\ndefault_ulimits = []\n' >>"$conf"
  fi
fi
