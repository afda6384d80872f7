#!/usr/bin/env bash
# A real Slurm for the cluster tests: Debian's slurm-wlm (slurmctld, slurmd,
# sbatch, ...) and munge (its authentication). Nothing is configured or
# started here: tests/services/slurm.ts writes its own slurm.conf and munge
# key under .cache/ and starts the daemons for the test run.
set -euo pipefail
need=()
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
