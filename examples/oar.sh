#!/usr/bin/env bash
# An OAR array of best-effort minions (Grid'5000, Igrida): OAR may kill a
# best-effort job at any moment to make room for others; "idempotent" makes
# it resubmit the job when that happens. The params a killed minion held go
# back to the queue, so nothing is lost and the sweep goes on.
#
#   echo MINION_ENGINE=execo > .env        # the engine and its settings
#   minionize sweep create --param alpha=1,2,3 --param beta=x,y
#   oarsub --array 10 -S ./examples/oar.sh
#
# Settings live in .env (read when the minion starts), so this script is
# the same whatever engine is used.
#
#OAR -n minions
#OAR -l nodes=1,walltime=1:0:0
#OAR -t besteffort
#OAR -t idempotent

set -eu

# Keep in step with the walltime above, a little under it: the minion stops
# taking params when less time is left than they take.
exec minionize --walltime 0:58:00 echo "hello from $OAR_JOB_ID"
