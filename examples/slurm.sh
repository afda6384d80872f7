#!/usr/bin/env bash
# A Slurm job array of minions: each array task is one minion that takes
# params from the queue .env names until the queue is drained, its time is
# nearly up, or Slurm stops it. Params it had not finished go back to the
# queue, so tasks can be cancelled, preempted and resubmitted at any time.
#
#   echo MINION_ENGINE=execo > .env            # or any engine and its settings
#   minionize sweep create --param alpha=1,2,3 --param beta=x,y
#   sbatch examples/slurm.sh a.out --verbose   # the program and its arguments
#   sbatch --array=0-3 examples/slurm.sh a.out --verbose   # add minions later
#
# MINIONIZE names the minionize command (default: minionize on PATH); every
# MINION_* variable and .env in the submit directory are read as usual.
#
#SBATCH --job-name=minions
#SBATCH --array=0-9
#SBATCH --ntasks=1
#SBATCH --time=01:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --output=minion-%A_%a.out

if [ "$#" -eq 0 ]; then
  echo "usage: sbatch examples/slurm.sh PROGRAM [ARGS...]" >&2
  exit 2
fi

# Runs in the background so this script stays free to hear signals and to
# report the minion's exit status when it leaves. The minion reads the
# job's end time from Slurm and stops taking params in time by itself.
${MINIONIZE:-minionize} "$@" &
minion=$!

# At the time limit, on scancel and on preemption Slurm sends TERM to every
# process of the job: the minion hears it itself and gives its params back.
# This script only outlives it (a forwarded second TERM would mean "stop
# now" to the minion). --signal=B:USR1@120 reaches this script alone, two
# minutes (Slurm may say up to a minute earlier) before the limit: it asks
# the minion to stop while there is time to give params back cleanly.
trap 'kill -TERM "$minion" 2>/dev/null' USR1
trap ':' TERM INT

while kill -0 "$minion" 2>/dev/null; do
  wait "$minion"
done
wait "$minion"
status=$?
echo "minion exited with status $status (job ${SLURM_JOB_ID:-?}, array task ${SLURM_ARRAY_TASK_ID:-none}, restart ${SLURM_RESTART_COUNT:-0})"
exit "$status"
