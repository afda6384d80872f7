/**
 * Timers for delays of any length. A delay over 2^31-1 ms (about 24.8 days)
 * makes `setTimeout`, `setInterval` and `AbortSignal.timeout` fire after
 * 1 ms, so a `--timeout` of 30 days would kill every run at once: long
 * delays are chained here in steps the platform accepts.
 *
 * @module
 */

import { MAX_TIMER_MS } from "./limits.ts";

/** A timer that can be cancelled. */
export interface LongTimer {
  /** Cancels it; calling it after it fired does nothing. */
  clear(): void;
}

/** Options of {@linkcode setLongTimeout}. */
export interface LongTimeoutOptions {
  /** Let the process exit while the timer waits, like `Deno.unrefTimer`. @default {false} */
  unref?: boolean;
}

/**
 * Calls `fn` once after `ms`, however long that is: a delay longer than one
 * timer allows is waited for in several steps.
 *
 * @param fn what to call
 * @param ms the delay in ms (a negative or non-finite delay waits 0 ms,
 *   `Infinity` forever)
 * @param options whether the timer keeps the process alive
 * @returns the timer, to cancel it
 *
 * @example Cancel a 30-day timer
 * ```ts
 * import { setLongTimeout } from "./timer.ts";
 *
 * const timer = setLongTimeout(() => console.log("late"), 30 * 86_400_000);
 * timer.clear();
 * ```
 */
export function setLongTimeout(
  fn: () => void,
  ms: number,
  options: LongTimeoutOptions = {},
): LongTimer {
  let handle: ReturnType<typeof setTimeout> | undefined;
  let cleared = false;
  const end = ms === Infinity
    ? Infinity
    : performance.now() + (Number.isFinite(ms) ? Math.max(0, ms) : 0);
  const arm = () => {
    const left = end - performance.now();
    if (left <= 0) {
      fn();
      return;
    }
    const next = setTimeout(() => {
      if (!cleared) arm();
    }, Math.min(left, MAX_TIMER_MS));
    if (options.unref) Deno.unrefTimer(next);
    handle = next;
  };
  arm();
  return {
    clear() {
      cleared = true;
      clearTimeout(handle);
    },
  };
}

/**
 * An `AbortSignal` that aborts with a `TimeoutError` after `ms`, like
 * `AbortSignal.timeout` but correct past 2^31-1 ms. Its timer does not keep
 * the process alive.
 *
 * @param ms the delay in ms
 */
export function longTimeoutSignal(ms: number): AbortSignal {
  if (ms <= MAX_TIMER_MS) return AbortSignal.timeout(Math.max(0, ms));
  const controller = new AbortController();
  setLongTimeout(
    () =>
      controller.abort(
        new DOMException("Signal timed out.", "TimeoutError"),
      ),
    ms,
    { unref: true },
  );
  return controller.signal;
}

/**
 * `ms` clamped to what one timer accepts, for intervals: a period longer
 * than 24.8 days is as good as never for the periodic work minions do
 * (renewing a claim, a heartbeat), while an overflow would fire every 1 ms.
 */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
