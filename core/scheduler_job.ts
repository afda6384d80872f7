/**
 * The batch job a minion runs in, read from the variables the scheduler
 * sets (Slurm, OAR, PBS). Every event of the minion carries it, so that
 * `status`, `top` and `submit --status` can lead from a failed param to the
 * job's own output file.
 *
 * @module
 */

import type { Env, SchedulerJob } from "./contracts.ts";

function value(env: Env, name: string): string | undefined {
  const text = env[name]?.trim();
  return text === undefined || text === "" ? undefined : text;
}

/**
 * The scheduler's ids of the job this minion runs in, or `undefined`
 * outside a batch job: `SLURM_JOB_ID` (with `SLURM_ARRAY_JOB_ID` and
 * `SLURM_ARRAY_TASK_ID` for an array task), `OAR_JOB_ID` (with
 * `OAR_ARRAY_ID` and `OAR_ARRAY_INDEX`), or `PBS_JOBID` (with
 * `PBS_ARRAY_INDEX`).
 *
 * @example
 * ```ts
 * import { schedulerJob } from "./scheduler_job.ts";
 *
 * const job = schedulerJob({
 *   SLURM_JOB_ID: "124",
 *   SLURM_ARRAY_JOB_ID: "120",
 *   SLURM_ARRAY_TASK_ID: "4",
 * });
 * if (job?.id !== "124" || job.array !== "120") throw new Error("wrong job");
 * ```
 */
export function schedulerJob(env: Env): SchedulerJob | undefined {
  const slurm = value(env, "SLURM_JOB_ID");
  if (slurm !== undefined) {
    return withArray(
      { scheduler: "slurm", id: slurm },
      value(env, "SLURM_ARRAY_JOB_ID"),
      value(env, "SLURM_ARRAY_TASK_ID"),
    );
  }
  const oar = value(env, "OAR_JOB_ID") ?? value(env, "OAR_JOBID");
  if (oar !== undefined) {
    // OAR gives every job an array id and index, 1 of its own array when it
    // was submitted alone: only a real array is worth showing.
    const array = value(env, "OAR_ARRAY_ID") ?? value(env, "OAR_ARRAYID");
    const index = value(env, "OAR_ARRAY_INDEX") ??
      value(env, "OAR_ARRAYINDEX");
    return array === oar
      ? { scheduler: "oar", id: oar }
      : withArray({ scheduler: "oar", id: oar }, array, index);
  }
  const pbs = value(env, "PBS_JOBID");
  if (pbs !== undefined) {
    return withArray(
      { scheduler: "pbs", id: pbs },
      undefined,
      value(env, "PBS_ARRAY_INDEX"),
    );
  }
  return undefined;
}

function withArray(
  job: SchedulerJob,
  array: string | undefined,
  index: string | undefined,
): SchedulerJob {
  return {
    ...job,
    ...(array === undefined ? {} : { array }),
    ...(index === undefined ? {} : { index }),
  };
}

/**
 * A job as one short text, the way its scheduler names it: `slurm 124`,
 * `slurm 120_4 (124)` for an array task (Slurm's `%A_%a`), `oar 57`,
 * `oar 57 (array 50 #8)`, `pbs 12.server`.
 */
export function formatJob(job: SchedulerJob): string {
  if (job.scheduler === "slurm" && job.array !== undefined) {
    return `slurm ${job.array}_${job.index ?? "?"} (${job.id})`;
  }
  if (job.array !== undefined) {
    return `${job.scheduler} ${job.id} (array ${job.array} #${
      job.index ?? "?"
    })`;
  }
  if (job.index !== undefined) {
    return `${job.scheduler} ${job.id} (#${job.index})`;
  }
  return `${job.scheduler} ${job.id}`;
}
