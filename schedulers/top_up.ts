/**
 * The fleet tops itself up, with no daemon: `minionize submit` and every
 * minion job, when it starts and as it leaves, take the fleet's lock, count
 * the fleet's jobs in the scheduler (by name) and the params the queue
 * holds, and submit more jobs when work remains and fewer than `backlog`
 * wait, never more than `maxJobs` in all.
 *
 * Why the limit holds: every submission happens under one lock, after a
 * count that the scheduler makes from the same records the submissions
 * went to (`sbatch` and `oarsub` return once the job is recorded), so a
 * count never misses a job submitted before it. A job counts from its
 * submission until the scheduler forgets it; the one exception is the job
 * that is leaving, which does not count itself, so that a fleet killed all
 * at once (OAR besteffort, preemption) can still be replaced: for the few
 * seconds until that job is gone the scheduler may list `maxJobs + 1`.
 * Where the lock does not work across nodes (NFS without `lockd`), top-ups
 * on different nodes at the same moment can each submit up to `backlog`.
 *
 * Failures: a submission or listing that fails is counted in the fleet's
 * `state.json`; top-ups wait 30 s, then 1, 2, 4, 8 minutes before the next
 * try, and after 5 failures in a row stop submitting (each says so on
 * stderr and in the minion's report) until `minionize submit` runs again.
 *
 * @module
 */

import type { Engine, Env, StopCause } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { ENGINES } from "../runner/registry.ts";
import { FleetDir, type FleetSpec, type FleetState } from "./fleet_dir.ts";
import {
  type CommandRunner,
  type FleetJob,
  runCommand,
  type Scheduler,
} from "./scheduler.ts";
import { SCHEDULERS } from "./registry.ts";

/** Failed submissions in a row after which top-ups stop. */
export const MAX_FAILURES = 5;

/** The wait after the `failures`-th failure in a row, in ms. */
export function backoffMs(failures: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, failures - 1), 600_000);
}

/** What {@linkcode planTopUp} decides from. */
export interface PlanInput {
  /** The fleet's jobs waiting to start. */
  pending: number;
  /** The fleet's jobs started and not yet gone (the caller's own included). */
  running: number;
  /** Params the queue holds, unfinished; `undefined` when unknown. */
  left: number | undefined;
  /** Params one minion runs at once. */
  concurrency: number;
  /** Jobs to keep waiting while work remains. */
  backlog: number;
  /** Jobs waiting and running at most (`Infinity` for no limit). */
  maxJobs: number;
  /** The caller is a job that is leaving: it does not count itself. */
  leaving: boolean;
  /** Jobs asked for outright (`minionize submit --jobs`), instead of the backlog. */
  requested?: number;
}

/** How many jobs to submit, and why no more. */
export interface TopUpPlan {
  count: number;
  /** Why fewer than wanted, or none. */
  note: string | undefined;
}

/**
 * How many jobs to submit now: what is wanted (`requested`, else enough to
 * keep `backlog` waiting), no more than `maxJobs` allows and no more than
 * the work left can use (one job per `concurrency` params left, the jobs
 * already there included); none once the queue is drained.
 *
 * @example
 * ```ts
 * import { planTopUp } from "./top_up.ts";
 *
 * const plan = planTopUp({
 *   pending: 1, running: 4, left: 100, concurrency: 1,
 *   backlog: 2, maxJobs: 6, leaving: false,
 * });
 * if (plan.count !== 1) throw new Error("one more to keep two waiting");
 * ```
 */
export function planTopUp(input: PlanInput): TopUpPlan {
  if (input.left === 0) return { count: 0, note: "the queue is drained" };
  const running = Math.max(0, input.running - (input.leaving ? 1 : 0));
  const jobs = input.pending + running;
  const wanted = input.requested ?? Math.max(0, input.backlog - input.pending);
  const room = input.maxJobs - jobs;
  const useful = input.left === undefined
    ? Infinity
    : Math.ceil(input.left / input.concurrency) - jobs;
  const count = Math.max(0, Math.min(wanted, room, useful));
  let note: string | undefined;
  if (count < wanted) {
    note = room <= useful
      ? `${jobs} of at most ${input.maxJobs} jobs already`
      : `${
        Math.ceil(input.left! / input.concurrency)
      } jobs are enough for the ${input.left} params left`;
  } else if (wanted === 0) {
    note = `${input.pending} waiting already`;
  }
  return { count, note };
}

/** How a top-up runs. */
export interface TopUpOptions {
  /** The fleet's directory. */
  fleet: FleetDir;
  /** `submit` (the command), `start` or `leave` (a minion job). */
  when: "submit" | "start" | "leave";
  /** Who decides, for the log: `submit` or the minion's id. */
  by: string;
  /** Settings naming the queue (its census). */
  env: Env;
  /** The minion's open engine, asked what remains when the census cannot tell. */
  engine?: Engine;
  /** Why the minion is leaving: drained or idle mean no work is left. */
  reason?: StopCause;
  /** Jobs asked for outright (`submit --jobs`). */
  requested?: number;
  /** Runs scheduler commands. @default {runCommand} */
  run?: CommandRunner;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
  /** How long to wait for the lock. @default {60000} */
  lockTimeoutMs?: number;
}

/** What a top-up did. */
export interface TopUpResult {
  /** The fleet's name. */
  fleet: string;
  /** Ids of the jobs submitted. */
  submitted: string[];
  /** The fleet's jobs waiting and started before it submitted, when listed. */
  pending?: number;
  running?: number;
  /** The jobs as listed, before it submitted. */
  jobs?: FleetJob[];
  /** Params left in the queue, when known. */
  left?: number;
  /** Why it submitted no more. */
  note?: string;
  /** What failed (a submission, the listing). */
  error?: string;
  /** Set when this failure made top-ups stop. */
  gaveUp?: boolean;
}

/**
 * Params the queue still holds: its census when the engine keeps one (done
 * and failed ones excluded), else what the open engine says remains, else
 * none when the minion left because it found nothing (drained, idle), else
 * unknown.
 */
export async function paramsLeft(
  env: Env,
  engine: Engine | undefined,
  reason: StopCause | undefined,
): Promise<number | undefined> {
  const name = env.MINION_ENGINE?.trim() || "execo";
  try {
    const census = await (await ENGINES[name]?.())?.census?.(env);
    if (census !== undefined) {
      return Math.max(0, census.total - (census.finished ?? 0));
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }
  const remaining = await engine?.remaining?.().catch(() => undefined);
  if (remaining !== undefined) return remaining;
  return reason === "drained" || reason === "idle" ? 0 : undefined;
}

function message(result: { code: number; stdout: string; stderr: string }) {
  const text = (result.stderr.trim() || result.stdout.trim())
    .split("\n").slice(-2).join(" ");
  return `exit status ${result.code}${text ? `: ${text}` : ""}`;
}

/**
 * Looks at the fleet and submits what it needs, under the fleet's lock.
 * Never throws for a scheduler's failure: the result says what failed.
 *
 * @throws {ConfigError} when the fleet's directory cannot be read
 * @throws {FleetLockTimeout} when the lock stays taken
 */
export async function topUp(options: TopUpOptions): Promise<TopUpResult> {
  const { fleet } = options;
  const now = options.now ?? Date.now;
  const run = options.run ?? ((argv) => runCommand(argv));
  const spec = await fleet.readSpec();
  const scheduler = await SCHEDULERS[spec.scheduler]!();
  const base = { fleet: spec.name, submitted: [] as string[] };
  if (spec.stopped) return { ...base, note: "the fleet was cancelled" };
  return await fleet.withLock(async () => {
    // Read again under the lock: a second `submit` may have changed it.
    const current = await fleet.readSpec();
    if (current.stopped) return { ...base, note: "the fleet was cancelled" };
    let state = await fleet.readState();
    if (options.when === "submit") {
      state = { failures: 0 };
      await fleet.writeState(state);
    } else if (state.gaveUp) {
      return { ...base, note: state.gaveUp };
    } else if (state.retryAt !== undefined && now() < state.retryAt) {
      return {
        ...base,
        note: `backing off after ${state.failures} failed submissions, until ${
          new Date(state.retryAt).toISOString()
        } (last: ${state.lastError})`,
      };
    }
    const result = await decide(current, scheduler, state, options, run, now);
    const own = scheduler.ownJob(options.env);
    await fleet.appendLog({
      time: new Date(now()).toISOString(),
      by: options.by,
      ...(own === undefined ? {} : { job: own }),
      when: options.when,
      submitted: result.submitted,
      ...pick(result, ["pending", "running", "left", "note", "error"]),
    });
    return result;
  }, { timeoutMs: options.lockTimeoutMs ?? 60_000 });
}

function pick<T extends object, K extends keyof T>(
  object: T,
  keys: readonly K[],
): Partial<Pick<T, K>> {
  return Object.fromEntries(
    keys.filter((k) => object[k] !== undefined).map((k) => [k, object[k]]),
  ) as Partial<Pick<T, K>>;
}

async function decide(
  spec: FleetSpec,
  scheduler: Scheduler,
  state: FleetState,
  options: TopUpOptions,
  run: CommandRunner,
  now: () => number,
): Promise<TopUpResult> {
  const { fleet } = options;
  const base = { fleet: spec.name, submitted: [] as string[] };
  const fail = async (error: string): Promise<TopUpResult> => {
    const failures = state.failures + 1;
    const gaveUp = failures >= MAX_FAILURES && options.when !== "submit";
    await fleet.writeState({
      failures,
      retryAt: now() + backoffMs(failures),
      lastError: error,
      ...(gaveUp
        ? {
          gaveUp:
            `stopped submitting after ${failures} failures in a row (last: ${error}); run minionize submit again to resume`,
        }
        : {}),
    });
    return { ...base, error, ...(gaveUp ? { gaveUp } : {}) };
  };

  const left = await paramsLeft(options.env, options.engine, options.reason);
  const listed = await run(scheduler.listCommand(spec.name));
  if (listed.code !== 0) {
    return await fail(
      `${scheduler.listCommand(spec.name)[0]} failed, ${message(listed)}`,
    );
  }
  let jobs: FleetJob[];
  try {
    jobs = scheduler.parseList(listed.stdout, spec.name);
  } catch (error) {
    return await fail(
      `cannot read what ${scheduler.listCommand(spec.name)[0]} printed: ${
        (error as Error).message
      }`,
    );
  }
  const own = scheduler.ownJob(options.env);
  const pending = jobs.filter((job) => job.pending).length;
  const running = jobs.length - pending;
  const plan = planTopUp({
    pending,
    running,
    left,
    concurrency: spec.concurrency,
    backlog: spec.backlog,
    maxJobs: spec.maxJobs ?? Infinity,
    // A leaving job is still listed: it does not count itself.
    leaving: options.when === "leave" &&
      jobs.some((job) => job.id === own && !job.pending),
    ...(options.requested === undefined
      ? {}
      : { requested: options.requested }),
  });
  const counted = {
    ...base,
    pending,
    running,
    jobs,
    ...(left === undefined ? {} : { left }),
    ...(plan.note === undefined ? {} : { note: plan.note }),
  };
  const command = scheduler.submitCommand({
    name: spec.name,
    script: fleet.scriptPath,
    cwd: spec.cwd,
    outputDir: fleet.outputDir,
    ...(spec.walltimeMs === null ? {} : { walltimeMs: spec.walltimeMs }),
    args: spec.schedulerArgs,
  });
  const submitted: string[] = [];
  for (let i = 0; i < plan.count; i++) {
    const result = await run(command);
    const id = result.code === 0
      ? scheduler.parseSubmitted(result.stdout)
      : undefined;
    if (id === undefined) {
      const failed = await fail(
        `${scheduler.submitter} failed, ${
          result.code === 0
            ? `printed no job id: ${result.stdout.trim()}`
            : message(result)
        }`,
      );
      return { ...counted, ...failed, submitted };
    }
    submitted.push(id);
  }
  if (state.failures > 0) await fleet.writeState({ failures: 0 });
  return { ...counted, submitted };
}
