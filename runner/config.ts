/**
 * Minion settings from variables, with the original tool's names and
 * defaults. Command-line flags are given as the variables they stand for, so
 * one parser serves flags, the environment and `.env`, and every message can
 * name both spellings.
 *
 * @module
 */

import type { Env } from "../core/contracts.ts";
import {
  readBoolean,
  readChoice,
  readInteger,
  readSeconds,
} from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import { ENGINES, REPORTERS } from "./registry.ts";
import { readWalltime } from "../core/walltime.ts";
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
