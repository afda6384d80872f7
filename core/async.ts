/**
 * Waiting with a way out: a delay and a promise that stop when an
 * `AbortSignal` aborts, shaped as Deno's std `async/delay.ts` and
 * `async/abortable.ts` (which cannot be fetched here: JSR is unreachable).
 * Both reject with the signal's reason, so a caller that only wants to stop
 * waiting catches it and looks at `signal.aborted`.
 *
 * @example Wait a second, unless stopped first
 * ```ts
 * import { abortable, delay } from "./async.ts";
 *
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 10);
 * const never = new Promise(() => {});
 * try {
 *   await abortable(never, controller.signal);
 * } catch {
 *   console.log("stopped after 10 ms");
 * }
 * await delay(1_000, { signal: controller.signal }).catch(() => {});
 * ```
 *
 * @module
 */

import { setLongTimeout } from "./timer.ts";

/** Options of {@linkcode delay}. */
export interface DelayOptions {
  /** Stops the delay: it rejects with the signal's reason. @default {never} */
  signal?: AbortSignal | undefined;
  /**
   * Whether the timer keeps the process alive while it waits (false is
   * `Deno.unrefTimer`).
   * @default {true}
   */
  persistent?: boolean;
}

/**
 * Resolves after `ms` milliseconds, however long (a delay past 2^31-1 ms is
 * waited for in several steps, see `core/timer.ts`).
 *
 * @param ms the delay in ms (negative waits 0 ms)
 * @param options a signal that stops the wait, and whether it keeps the
 *   process alive
 * @returns a promise that resolves after `ms`, or rejects with the signal's
 *   reason as soon as it aborts (at once when it already has)
 *
 * @example Back off, unless the minion is stopping
 * ```ts
 * import { delay } from "./async.ts";
 *
 * await delay(5, { signal: AbortSignal.timeout(1_000) });
 * ```
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal, persistent = true } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const abort = () => {
      timer.clear();
      reject(signal!.reason);
    };
    const timer = setLongTimeout(
      () => {
        signal?.removeEventListener("abort", abort);
        resolve();
      },
      ms,
      { unref: !persistent },
    );
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as
 * it aborts. The promise itself goes on: what it resolves to later is lost
 * to this caller, so keep it when it holds something that must not be lost
 * (a read, a claimed message).
 *
 * @param promise what to wait for
 * @param signal stops the wait
 * @returns `promise`'s outcome, or a rejection with `signal.reason`
 *
 * @example Stop waiting for a read that may never come
 * ```ts
 * import { abortable } from "./async.ts";
 *
 * const never = new Promise<string>(() => {});
 * const line = await abortable(never, AbortSignal.timeout(5)).catch(() =>
 *   undefined
 * );
 * console.log(line); // undefined
 * ```
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  let abort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    abort = () => reject(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
  // The race also handles a later rejection of `promise`, so one that was
  // given up on is never an unhandled rejection.
  return Promise.race([promise, aborted]).finally(() =>
    signal.removeEventListener("abort", abort)
  );
}
