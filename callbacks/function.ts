/**
 * Callback `function`: runs a TypeScript function per param. A throw (or a
 * rejected promise) is a failure, under the same retry policy as programs.
 *
 * @module
 */

import type { Callback, JsonValue, TaskContext } from "../core/contracts.ts";

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
 *   minionId: "doc", attempt: 1, seq: 1, slot: 1,
 *   signal: new AbortController().signal,
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
