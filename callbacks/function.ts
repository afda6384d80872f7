/**
 * Callback `function`: runs a TypeScript function per param. A throw (or a
 * rejected promise) is a failure, under the same retry policy as programs.
 *
 * @module
 */

import type { Callback, JsonValue, TaskContext } from "../core/contracts.ts";
import { readSettings } from "../core/config.ts";
import { loadEnv } from "../core/dotenv.ts";
import { launch } from "../core/launch.ts";
import type { MinionSummary } from "../core/minion.ts";

/** A task written in TypeScript. It should stop when `context.signal` aborts. */
export type TaskFunction = (
  param: JsonValue,
  context: TaskContext,
) => unknown;

/**
 * Runs `fn` for each param.
 *
 * A function cannot be killed: when its run times out or the minion stops,
 * the minion stops waiting for it (and the param is failed or given back),
 * but the function goes on unless it listens to `context.signal`.
 *
 * @example
 * ```ts
 * import { FunctionCallback } from "../mod.ts";
 *
 * const callback = new FunctionCallback((param) => {
 *   if (typeof param !== "number") throw new TypeError("expected a number");
 * });
 * await callback.process(4, {
 *   minionId: "doc", attempt: 1, seq: 1, signal: new AbortController().signal,
 * });
 * ```
 */
export class FunctionCallback implements Callback {
  #fn: TaskFunction;

  /**
   * Makes a callback that calls `fn` per param.
   *
   * @param fn the task, called with the param and its context
   */
  constructor(fn: TaskFunction) {
    this.#fn = fn;
  }

  /** The function's name and the param, for dry runs. */
  describe(param: JsonValue): string {
    return `${this.#fn.name || "function"}(${JSON.stringify(param)})`;
  }

  /** Calls the function; settles early when `context.signal` aborts. */
  async process(param: JsonValue, context: TaskContext): Promise<void> {
    const { signal } = context;
    signal.throwIfAborted();
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([
        (async () => await this.#fn(param, context))(),
        aborted,
      ]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

/** How {@linkcode minionize} runs a function. */
export interface MinionizeOptions {
  /**
   * Variables that win over the environment and `.env`, e.g.
   * `{ MINION_ENGINE: "file", FILE_PATH: "params.txt" }`.
   * @default {{}}
   */
  env?: Record<string, string>;
  /** Stop gracefully on SIGINT/SIGTERM. @default {true} */
  handleSignals?: boolean;
}

/**
 * Turns this process into a minion that calls `fn` once per param, with the
 * same settings as the CLI (`MINION_ENGINE`, `MINION_CONCURRENCY`,
 * `MINION_RETRIES`, ... from the environment and `.env`). A throw fails the
 * param under the same retry policy as a program's non-zero exit.
 *
 * Needs `--allow-env`, `--allow-read`, `--allow-sys` (host name) and what the
 * chosen engine needs (network, files).
 *
 * @param fn the task, called with each param and its context
 * @param options variables that win over the environment
 * @returns the counts and why the minion stopped
 * @throws {ConfigError} when a setting is missing or malformed
 */
export async function minionize(
  fn: TaskFunction,
  options: MinionizeOptions = {},
): Promise<MinionSummary> {
  const env = { ...(await loadEnv()), ...options.env };
  const settings = readSettings(env);
  return await launch(new FunctionCallback(fn), settings, env, {
    handleSignals: options.handleSignals ?? true,
  });
}
