/**
 * Walltime awareness: a minion in a batch job knows when the scheduler will
 * kill it (`--walltime`, or the end time Slurm gives the job) and stops
 * taking params when the time left is below what its own params took (their
 * 95th percentile), so no param is started only to be killed at the limit.
 *
 * @module
 */

import type { Env } from "./contracts.ts";
import { denial, explain } from "./denied.ts";
import { ConfigError } from "./errors.ts";
import { RANGES } from "./limits.ts";

/**
 * Parses a duration as batch schedulers write walltimes: seconds (`90`,
 * `1.5`), `MM:SS`, `HH:MM:SS` or `D-HH:MM:SS` (OAR's `1:0:0` is an hour).
 *
 * @param text the duration
 * @returns milliseconds, or `undefined` when `text` is not a duration
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^[0-9]*\.?[0-9]+$/.test(trimmed)) return Number(trimmed) * 1000;
  const match = /^(?:([0-9]+)-)?([0-9]+(?::[0-9]+){1,2})$/.exec(trimmed);
  if (!match) return undefined;
  const parts = match[2]!.split(":").map(Number);
  while (parts.length < 3) parts.unshift(0);
  const [hours, minutes, seconds] = parts as [number, number, number];
  const days = Number(match[1] ?? 0);
  return (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1000;
}

/**
 * `MINION_WALLTIME` (`--walltime`): how long this minion may run, in ms;
 * `Infinity` for `none` (never stop for time, do not ask the scheduler);
 * `undefined` when unset.
 *
 * @throws {ConfigError} when it is neither a duration from 1 ms to 365 days
 *   nor `none`
 */
export function readWalltime(env: Env): number | undefined {
  const text = env.MINION_WALLTIME?.trim();
  if (text === undefined || text === "") return undefined;
  if (text === "none") return Infinity;
  const ms = parseDuration(text);
  const { min, max } = RANGES.MINION_WALLTIME!;
  if (ms === undefined || !(ms >= min * 1000) || ms > max * 1000) {
    throw new ConfigError(
      "MINION_WALLTIME",
      `MINION_WALLTIME (--walltime) is '${text}': expected seconds, MM:SS, HH:MM:SS or D-HH:MM:SS from 0.001 s to 365 days (or none), e.g. MINION_WALLTIME=2:00:00`,
    );
  }
  return Math.round(ms);
}

/** Runs a command and resolves to its stdout, or `undefined` if it failed. */
export type CommandRunner = (
  command: string,
  args: string[],
) => Promise<string | undefined>;

async function _runCommand(
  command: string,
  args: string[],
): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      // An unreachable controller must not hold the minion's start for long.
      signal: AbortSignal.timeout(15_000),
    }).output();
    return output.success ? new TextDecoder().decode(output.stdout) : undefined;
  } catch (error) {
    // Denied, it would silently leave the minion blind to its time limit.
    if (denial(error)) {
      throw new ConfigError(
        "--allow-run",
        `Cannot ask Slurm when this job ends (${command}): ${
          explain(error, "")
        }; or give MINION_WALLTIME`,
        { cause: error },
      );
    }
    return undefined; // no squeue here: not under Slurm after all
  }
}

/**
 * When the Slurm job this minion runs in will be killed, in ms since the
 * epoch: `SLURM_JOB_END_TIME` (seconds) when Slurm sets it, else what
 * `squeue -h -j $SLURM_JOB_ID -o %e` says. `undefined` outside Slurm, for a
 * job without a time limit, or when squeue cannot tell.
 *
 * @param env the minion's variables
 * @param run runs squeue (injected by tests)
 */
export async function slurmEndTime(
  env: Env,
  run: CommandRunner = _runCommand,
): Promise<number | undefined> {
  const given = env.SLURM_JOB_END_TIME?.trim();
  if (given && /^[0-9]+$/.test(given) && Number(given) > 0) {
    return Number(given) * 1000;
  }
  const job = env.SLURM_JOB_ID?.trim();
  if (!job) return undefined;
  const text = (await run("squeue", ["-h", "-j", job, "-o", "%e"]))?.trim();
  // squeue prints local time without a zone, which Date reads as local time.
  if (!text || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+$/.test(text)) {
    return undefined;
  }
  const time = new Date(text).getTime();
  return Number.isNaN(time) ? undefined : time;
}

/**
 * When the OAR job this minion runs in will be killed, in ms since the
 * epoch: `OAR_JOB_WALLTIME_SECONDS` after this process began (OAR starts
 * the job's command at once, so the real end is a moment earlier than
 * that; the guard's margin is the 95th percentile of the runs anyway).
 * `undefined` outside OAR.
 */
export function oarEndTime(
  env: Env,
  start: number = performance.timeOrigin,
): number | undefined {
  const seconds = env.OAR_JOB_WALLTIME_SECONDS?.trim();
  if (!seconds || !/^[0-9]+$/.test(seconds) || Number(seconds) <= 0) {
    return undefined;
  }
  return start + Number(seconds) * 1000;
}

/**
 * The deadline a minion started at `start` works to: `walltimeMs` after it
 * (`Infinity` for none), else the Slurm job's end time, else the OAR job's
 * walltime, else none.
 */
export async function walltimeDeadline(
  walltimeMs: number | undefined,
  env: Env,
  start: number = Date.now(),
): Promise<number | undefined> {
  if (walltimeMs !== undefined) {
    return walltimeMs === Infinity ? undefined : start + walltimeMs;
  }
  return await slurmEndTime(env) ?? oarEndTime(env);
}

/** The 95th percentile (nearest rank) of `values`; 0 when empty. */
export function percentile95(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1]!;
}

/** Decides, param by param, whether there is still time for one more. */
export interface WalltimeGuard {
  /** Records how long one run took, in ms. */
  record(ms: number): void;
  /**
   * Why no further param should be started (time left below the 95th
   * percentile of the runs recorded, or the deadline passed), or
   * `undefined` when there is time.
   */
  tooLate(): string | undefined;
}

/**
 * A guard for `deadline` (ms since the epoch) on the clock `now`.
 *
 * @example Stop when less time is left than the runs took
 * ```ts
 * import { walltimeGuard } from "./walltime.ts";
 *
 * let clock = 0;
 * const guard = walltimeGuard(100_000, () => clock);
 * guard.record(30_000);
 * clock = 60_000; // 40 s left, runs take 30 s: one more fits
 * if (guard.tooLate() !== undefined) throw new Error("expected time left");
 * clock = 75_000; // 25 s left
 * if (guard.tooLate() === undefined) throw new Error("expected too late");
 * ```
 */
export function walltimeGuard(
  deadline: number,
  now: () => number = Date.now,
): WalltimeGuard {
  const runs: number[] = [];
  return {
    record(ms) {
      runs.push(ms);
    },
    tooLate() {
      const left = deadline - now();
      if (left <= 0) return "the walltime has passed";
      const needed = percentile95(runs);
      if (left >= needed) return undefined;
      return `${seconds(left)} left before the walltime, less than the ${
        seconds(needed)
      } the 95th percentile of this minion's ${runs.length} runs took`;
    },
  };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
