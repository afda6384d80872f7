/**
 * Slurm for `minionize submit`: one `sbatch --parsable` per job, named for
 * the fleet; `squeue --me --name` lists the fleet; `scancel` cancels it.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import {
  clockTime,
  findOption,
  type FleetJob,
  type JobRequest,
  refuseOptions,
  type Scheduler,
} from "./scheduler.ts";

/** Job states in which a job waits to start (squeue's `%T`). */
const WAITING = new Set([
  "PENDING",
  "REQUEUED",
  "REQUEUE_HOLD",
  "REQUEUE_FED",
  "RESV_DEL_HOLD",
  "SPECIAL_EXIT",
]);

const FORBIDDEN: readonly [string[], string][] = [
  [
    ["--job-name", "-J"],
    "the fleet names its jobs: use minionize submit --name",
  ],
  [["--array", "-a"], "use minionize submit --jobs N for N jobs"],
  [["--wrap"], "the job runs the minion command given after the second --"],
];

/** The Slurm scheduler. */
export const slurm: Scheduler = {
  name: "slurm",
  submitter: "sbatch",
  checkArgs(args, walltimeMs) {
    refuseOptions(args, FORBIDDEN, "sbatch");
    const time = findOption(args, ["--time", "-t"]);
    if (time && walltimeMs !== undefined) {
      throw new ConfigError(
        time,
        `sbatch option '${time}' and --walltime both set the time limit: give --walltime only (the minions read it too)`,
      );
    }
  },
  submitCommand(request: JobRequest) {
    return [
      "sbatch",
      "--parsable",
      `--job-name=${request.name}`,
      `--chdir=${request.cwd}`,
      `--output=${request.outputDir}/%j.out`,
      ...(request.walltimeMs === undefined
        ? []
        : [`--time=${clockTime(request.walltimeMs)}`]),
      ...request.args,
      request.script,
    ];
  },
  parseSubmitted(stdout) {
    // --parsable prints "ID" or "ID;CLUSTER".
    const line = stdout.trim().split("\n").at(-1)?.trim() ?? "";
    const id = line.split(";")[0]!;
    return /^[0-9]+$/.test(id) ? id : undefined;
  },
  listCommand(name) {
    return [
      "squeue",
      "--me",
      "--noheader",
      `--name=${name}`,
      "--format=%A|%T|%M|%R|%j",
    ];
  },
  parseList(stdout, name) {
    const jobs: FleetJob[] = [];
    for (const line of stdout.split("\n")) {
      const [id, state, elapsed, where, job] = line.trim().split("|");
      if (!id || !state || job !== name) continue;
      jobs.push({
        id,
        state,
        pending: WAITING.has(state),
        elapsed: elapsed || "-",
        where: where || "-",
      });
    }
    return jobs;
  },
  cancelCommand(ids) {
    return ["scancel", ...ids];
  },
  ownJob(env) {
    return env.SLURM_JOB_ID?.trim() || undefined;
  },
};
