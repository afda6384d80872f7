/**
 * The command line of `minionize submit`: its options, its help, and how the
 * words after its options split between the scheduler and the minion.
 *
 * @module
 */

import { formatOptions, type OptionSpec } from "./_args.ts";

/** The options of the submit command. */
export const SUBMIT_OPTIONS: readonly OptionSpec[] = [
  {
    long: "--scheduler",
    value: "NAME",
    variable: "MINION_SCHEDULER",
    help: "slurm or oar (default: the one whose sbatch or oarsub is on PATH)",
  },
  {
    long: "--name",
    value: "NAME",
    variable: "MINION_FLEET_NAME",
    help:
      "the fleet's name, which its jobs bear (default minions-DIR-HASH, from this directory)",
  },
  {
    long: "--jobs",
    value: "N",
    help: "jobs to submit now (default: --backlog), within the limits",
  },
  {
    long: "--backlog",
    value: "K",
    help: "jobs kept waiting to start while work remains (default 1)",
  },
  {
    long: "--max-jobs",
    value: "M",
    help: "jobs waiting and running at most (default: no limit)",
  },
  {
    long: "--walltime",
    value: "DURATION",
    help:
      "each job's time limit: seconds or [D-]HH:MM:SS (default: the scheduler's)",
  },
  {
    long: "--dry-run",
    help: "print the job script and the commands; submit nothing",
  },
  {
    long: "--status",
    help: "list the fleet's jobs, their minions and what the queue holds",
  },
  {
    long: "--cancel",
    help: "stop the fleet: no more top-ups, and cancel its jobs",
  },
  { long: "--json", help: "with --status: one JSON document for scripts" },
  { long: "--debug", help: "print stack traces of errors" },
  { long: "--help", short: "-h", help: "show this help" },
];

/** The help text of the submit command. */
export function submitHelp(): string {
  return `Usage: minionize submit [OPTIONS] [MINION_OPTIONS] PROGRAM [ARGS...]
       minionize submit [OPTIONS] -- SCHEDULER_ARGS -- [MINION_OPTIONS] PROGRAM [ARGS...]
       minionize submit --status | --cancel [--name NAME]

Submits jobs that each run one minion (minionize with MINION_OPTIONS and
PROGRAM, in this directory, with this directory's .env and the MINION_* and
engine variables of this environment), all named for one fleet. No daemon
watches them: each job, when it starts and as it leaves, counts the
fleet's jobs in the scheduler and the params left in the queue, and submits
more while work remains and fewer than --backlog wait, never more than
--max-jobs in all, none once the queue is drained. Submissions are made
under a lock in minion-fleet/NAME/, which must be on a filesystem every node
sees; failures back off and, after 5 in a row, stop until submit runs again.

SCHEDULER_ARGS go to sbatch or oarsub as they are (partition, account,
resources, -t besteffort, ...). When PROGRAM's own arguments hold --, give
the scheduler's arguments first, even none: submit -- -- PROGRAM -- X.

Options:
${formatOptions(SUBMIT_OPTIONS)}

Exit status: 0 when the jobs asked for were submitted (or none were needed),
1 when a submission failed after some were, 2 on bad settings (nothing is
submitted).`;
}

/** The words of a submit command line, split at its `--` separators. */
export interface SubmitWords {
  /** Options for the scheduler's submission command. */
  schedulerArgs: string[];
  /** The minion's options and program. */
  minionArgs: string[];
}

/**
 * Splits what follows submit's own options: `-- SCHEDULER_ARGS -- MINION`
 * when a second `--` follows the first, else all of it is the minion's.
 *
 * @param rest the words after submit's options
 * @param dashed whether submit's options ended with `--`
 */
export function splitWords(
  rest: readonly string[],
  dashed: boolean,
): SubmitWords {
  const second = rest.indexOf("--");
  if (dashed && second >= 0) {
    return {
      schedulerArgs: rest.slice(0, second),
      minionArgs: rest.slice(second + 1),
    };
  }
  return { schedulerArgs: [], minionArgs: [...rest] };
}
