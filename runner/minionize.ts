/**
 * The library's way to run a minion: any callback (a function, a
 * `ProcessCallback` subclass with its own `toCmd`, a callback of your own)
 * with the settings the `minionize` command reads from flags' variables,
 * the environment, `.env` and `.minionize.yml`.
 *
 * @module
 */

import { FunctionCallback, type TaskFunction } from "../callbacks/function.ts";
import { readSettings } from "./config.ts";
import type { Callback } from "../core/contracts.ts";
import { loadEnv } from "./dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { stderrSink, type TextSink, writeStderr } from "./stderr.ts";
import { launch } from "./launch.ts";
import type { MinionSummary } from "../core/minion.ts";

/** How {@linkcode minionize} runs a callback. */
export interface MinionizeOptions {
  /**
   * Variables that win over the environment, `.env` and `.minionize.yml`,
   * e.g. `{ MINION_ENGINE: "file", FILE_PATH: "params.txt" }`.
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * Stop gracefully on SIGINT/SIGTERM (in-flight params are given back); a
   * second signal kills the programs still running. @default {true}
   */
  handleSignals?: boolean;
  /**
   * Receives one line per failed run and the summary of a minion that saw
   * failures, unless `MINION_QUIET` is set. @default {writes to stderr}
   */
  log?: (line: string) => void;
  /**
   * Where the minion's own text goes: warnings, notices and the progress
   * bar. @default {standard error}
   */
  stderr?: TextSink;
}

function callbackName(task: TaskFunction | Callback): string {
  if (typeof task === "function") return "function";
  const name = task.constructor?.name;
  return name && name !== "Object" ? name : "callback";
}

/**
 * Turns this process into a minion that runs `task` once per param, with
 * the settings of the `minionize` command: `MINION_ENGINE` and the engine's
 * variables, `MINION_REPORTER`, `MINION_CONCURRENCY`, `MINION_RETRIES`,
 * `MINION_TIMEOUT`, `MINION_MAX_PARAMS`, `MINION_IDLE_EXIT`,
 * `MINION_WALLTIME`, `MINION_STATS`, `MINION_QUIET`, ... read from
 * `options.env`, then the environment, then `.env`, then `.minionize.yml`.
 * SIGINT and SIGTERM stop it gracefully. It resolves to the summary and
 * never exits the process.
 *
 * `task` is a function (a throw fails the param) or any {@linkcode Callback},
 * such as a `ProcessCallback` subclass that builds its own command line.
 * Settings of a callback itself (`shell`, `graceMs`, `resultsDir`) are given
 * to its constructor.
 *
 * Needs `--allow-env`, `--allow-read`, `--allow-sys` (host name) and what
 * the engine and callback need (network, files, `--allow-run`).
 *
 * @example Run a ProcessCallback subclass on the engine from the environment
 * ```ts ignore
 * import { type JsonValue, minionize, ProcessCallback } from "../core/mod.ts";
 *
 * // The queue holds {"arg1": ..., "arg2": ...}; a.out wants
 * // `a.out --arg1 VALUE1 VALUE2`.
 * class MyProcessCallBack extends ProcessCallback {
 *   override toCmd(param: JsonValue): string[] {
 *     const p = param as { arg1: string; arg2: string };
 *     return ["a.out", "--arg1", p.arg1, p.arg2];
 *   }
 * }
 * const summary = await minionize(new MyProcessCallBack());
 * Deno.exitCode = summary.exitCode;
 * ```
 *
 * @param task a function called with each param, or a callback
 * @param options variables that win over the environment, signals, log sink
 * @returns the counts and why the minion stopped
 * @throws {ConfigError} when a setting is missing or malformed (nothing was
 *   taken from the queue), or GPUs or CPUs per task are asked for: those the
 *   `minionize` command gives its programs; a library callback takes them
 *   from `planSlots` itself (`ProcessCallback`'s `slots` option)
 */
export async function minionize(
  task: TaskFunction | Callback,
  options: MinionizeOptions = {},
): Promise<MinionSummary> {
  const env = { ...(await loadEnv()), ...options.env };
  const settings = readSettings(env);
  for (const variable of ["MINION_GPUS_PER_TASK", "MINION_CPUS_PER_TASK"]) {
    if (!env[variable]?.trim()) continue;
    throw new ConfigError(
      variable,
      typeof task === "function"
        ? `Cannot split ${variable} among functions: a function runs inside the minion's own process; unset ${variable}, and pick devices from context.slot (1 to MINION_CONCURRENCY) yourself`
        : `Cannot give a library callback ${variable}: unset it, and give the callback its slots yourself, e.g. new ProcessCallback(command, { slots: await planSlots({ env, gpusPerTask: 1 }) }) with MINION_CONCURRENCY set to the plan's concurrency`,
    );
  }
  const callback = typeof task === "function"
    ? new FunctionCallback(task)
    : task;
  if (typeof callback?.process !== "function") {
    throw new TypeError(
      `Cannot run minion: the task is ${
        task === null ? "null" : typeof task
      }, not a function or a callback; give a function, or an object with a process(param, context) method`,
    );
  }
  return await launch(callback, settings, env, {
    handleSignals: options.handleSignals ?? true,
    callbackName: callbackName(task),
    log: options.log ?? writeStderr,
    stderr: options.stderr ?? stderrSink,
  });
}

/**
 * The original Python tool's name for {@linkcode minionize}: runs `task`
 * once per param with the settings from the environment, `.env` and
 * `.minionize.yml`, and resolves to the summary. The seed's
 * `minionizer(MyProcessCallback()).run()` reads
 * `await minionizer(new MyProcessCallBack())` here.
 *
 * @param task a function called with each param, or a callback
 * @param options variables that win over the environment, signals, log sink
 * @returns the counts and why the minion stopped
 * @throws {ConfigError} when a setting is missing or malformed
 */
export function minionizer(
  task: TaskFunction | Callback,
  options: MinionizeOptions = {},
): Promise<MinionSummary> {
  return minionize(task, options);
}
