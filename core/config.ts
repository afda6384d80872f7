/**
 * Minion settings from variables, with the original tool's names and
 * defaults. Command-line flags are given as the variables they stand for, so
 * one parser serves flags, the environment and `.env`, and every message can
 * name both spellings.
 *
 * @module
 */

import type { Env } from "./contracts.ts";
import { ConfigError } from "./errors.ts";
import { describeRange, integerRange, secondsRange } from "./limits.ts";
import { ENGINES, REPORTERS } from "./registry.ts";
import { readWalltime } from "./walltime.ts";
import { parseStatsAddress, type StatsAddress } from "./stats_server.ts";

/** Everything the minion loop and the CLI need to know. */
export interface Settings {
  /** `MINION_ENGINE`: the queue. @default {"execo"} */
  engine: string;
  /** `MINION_REPORTER`: where events go. @default {"null"} */
  reporter: string;
  /** `MINION_CONCURRENCY` (`-j`): params in flight at once. @default {1} */
  concurrency: number;
  /** `MINION_RETRIES`: extra runs of a failed param. @default {0} */
  retries: number;
  /** `MINION_TIMEOUT`: per-run time limit, in ms. @default {undefined} */
  timeoutMs: number | undefined;
  /** `DRY`: print commands, consume nothing. @default {false} */
  dryRun: boolean;
  /** `MINION_SHELL`: run the command through `sh -c`. @default {false} */
  shell: boolean;
  /** `MINION_RESULTS`: directory for outputs and the job log. */
  results: string | undefined;
  /** `MINION_MAX_PARAMS`: leave after this many params. */
  maxParams: number | undefined;
  /** `MINION_IDLE_EXIT`: leave after this long with nothing to take, in ms. */
  idleExitMs: number | undefined;
  /** `MINION_GRACE`: time between TERM and KILL, in ms. @default {5000} */
  graceMs: number;
  /**
   * `MINION_WALLTIME`: how long the minion may run, in ms (`Infinity` for
   * `none`); unset, a Slurm job's end time is used.
   */
  walltimeMs: number | undefined;
  /** `MINION_STATS` (`--stats`): where to serve `/stats` and `/metrics`. */
  stats: StatsAddress | undefined;
  /** `MINION_BAR` (`--bar`): draw a progress bar on a terminal. @default {false} */
  bar: boolean;
  /** `MINION_HEARTBEAT`: how often reports say the minion is alive, in ms. @default {30000} */
  heartbeatMs: number;
  /** `MINION_QUIET` (`--quiet`): print no line per failed param on stderr. @default {false} */
  quiet: boolean;
  /** `MINION_GPUS_PER_TASK` (`--gpus-per-task`): each slot's own GPUs. */
  gpusPerTask: number | undefined;
  /** `MINION_CPUS_PER_TASK` (`--cpus-per-task`): each slot's own CPUs. */
  cpusPerTask: number | undefined;
}

/** A variable's flag, for messages. */
export const FLAG_OF: Readonly<Record<string, string>> = {
  MINION_ENGINE: "--engine",
  MINION_REPORTER: "--reporter",
  MINION_CONCURRENCY: "-j",
  MINION_RETRIES: "--retries",
  MINION_TIMEOUT: "--timeout",
  DRY: "--dry-run",
  MINION_SHELL: "--shell",
  MINION_RESULTS: "--results",
  MINION_MAX_PARAMS: "--max-params",
  MINION_IDLE_EXIT: "--idle-exit",
  MINION_GRACE: "--grace",
  MINION_WALLTIME: "--walltime",
  MINION_CONTAINER_IMAGE: "--container",
  MINION_CONTAINER_RUNTIME: "--container-runtime",
  MINION_CONTAINER_OPTS: "--container-opt",
  MINION_STATS: "--stats",
  MINION_BAR: "--bar",
  MINION_QUIET: "--quiet",
  MINION_GPUS_PER_TASK: "--gpus-per-task",
  MINION_CPUS_PER_TASK: "--cpus-per-task",
  TOP_INTERVAL: "--interval",
  TOP_LOST: "--lost",
};

function named(variable: string): string {
  const flag = FLAG_OF[variable];
  return flag ? `${variable} (${flag})` : variable;
}

/**
 * A whole number of at least `min` and at most the variable's maximum (see
 * `core/limits.ts`), or `undefined` when unset or empty.
 *
 * @throws {ConfigError} naming the variable and its range when malformed
 */
export function readInteger(
  env: Env,
  variable: string,
  min: number,
): number | undefined {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return undefined;
  const range = integerRange(variable, min);
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < range.min || value > range.max) {
    throw new ConfigError(
      variable,
      `${named(variable)} is '${text}': expected ${
        describeRange(range)
      }, e.g. ${variable}=${Math.max(range.min, 2)}`,
    );
  }
  return value;
}

/**
 * A duration in seconds (decimals allowed) within the variable's range (see
 * `core/limits.ts`), returned in ms, or `undefined` when unset or empty.
 *
 * @throws {ConfigError} naming the variable and its range when malformed
 */
export function readSeconds(env: Env, variable: string): number | undefined {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return undefined;
  const range = secondsRange(variable);
  const value = Number(text);
  if (
    !/^[0-9]*\.?[0-9]+$/.test(text) || value < range.min || value > range.max
  ) {
    throw new ConfigError(
      variable,
      `${named(variable)} is '${text}': expected ${
        describeRange(range)
      }, e.g. ${variable}=30`,
    );
  }
  return Math.round(value * 1000);
}

const TRUE = ["1", "true", "yes", "on"];
const FALSE = ["", "0", "false", "no", "off"];

/** The default of `MINION_LEASE`, in ms: shared by every engine that leases. */
export const DEFAULT_LEASE_MS = 60_000;

/**
 * `MINION_LEASE`: how long a claimed param may go unrenewed before the queue
 * hands it to another minion, in ms (60 s by default; the minion renews every
 * third of it while a task runs). From 1 s to a day (`core/limits.ts`), so
 * every timer an engine derives from it stays within what timers allow.
 *
 * @throws {ConfigError} when malformed
 */
export function readLease(env: Env): number {
  return readSeconds(env, "MINION_LEASE") ?? DEFAULT_LEASE_MS;
}

/**
 * A yes/no variable.
 *
 * @throws {ConfigError} naming the variable when neither
 */
export function readBoolean(env: Env, variable: string): boolean {
  const text = (env[variable] ?? "").trim().toLowerCase();
  if (TRUE.includes(text)) return true;
  if (FALSE.includes(text)) return false;
  throw new ConfigError(
    variable,
    `${named(variable)} is '${
      env[variable]
    }': expected 1/true/yes/on or 0/false/no/off`,
  );
}

/**
 * One of `choices`, or `fallback` when unset.
 *
 * @throws {ConfigError} naming the variable and the choices
 */
export function readChoice<T extends string>(
  env: Env,
  variable: string,
  choices: readonly T[],
  fallback: T,
): T {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return fallback;
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new ConfigError(
    variable,
    `${named(variable)} is '${text}': expected one of ${choices.join(", ")}`,
  );
}

/**
 * A variable that must be set.
 *
 * @throws {ConfigError} naming the variable when unset or empty
 */
export function readRequired(env: Env, variable: string, hint: string): string {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") {
    throw new ConfigError(
      variable,
      `${variable} is not set: ${hint} (in the environment or in .env)`,
    );
  }
  return text;
}

/**
 * The settings from `env`, where flags were already written in as the
 * variables they stand for.
 *
 * @throws {ConfigError} on the first bad value
 */
export function readSettings(env: Env): Settings {
  const engine = env.MINION_ENGINE?.trim() || "execo";
  if (!(engine in ENGINES)) {
    throw new ConfigError(
      "MINION_ENGINE",
      `Cannot start minion: MINION_ENGINE (--engine) is '${engine}': expected one of ${
        Object.keys(ENGINES).join(", ")
      }`,
    );
  }
  return {
    engine,
    reporter: readChoice(
      env,
      "MINION_REPORTER",
      Object.keys(REPORTERS),
      "null",
    ),
    concurrency: readInteger(env, "MINION_CONCURRENCY", 1) ?? 1,
    retries: readInteger(env, "MINION_RETRIES", 0) ?? 0,
    timeoutMs: readSeconds(env, "MINION_TIMEOUT"),
    dryRun: readBoolean(env, "DRY"),
    shell: readBoolean(env, "MINION_SHELL"),
    results: env.MINION_RESULTS?.trim() || undefined,
    maxParams: readInteger(env, "MINION_MAX_PARAMS", 1),
    idleExitMs: readSeconds(env, "MINION_IDLE_EXIT"),
    graceMs: readSeconds(env, "MINION_GRACE") ?? 5000,
    walltimeMs: readWalltime(env),
    stats: env.MINION_STATS?.trim()
      ? parseStatsAddress(env.MINION_STATS)
      : undefined,
    bar: readBoolean(env, "MINION_BAR"),
    heartbeatMs: readSeconds(env, "MINION_HEARTBEAT") ?? 30_000,
    quiet: readBoolean(env, "MINION_QUIET"),
    gpusPerTask: readInteger(env, "MINION_GPUS_PER_TASK", 1),
    cpusPerTask: readInteger(env, "MINION_CPUS_PER_TASK", 1),
  };
}
