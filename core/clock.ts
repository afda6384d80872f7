/**
 * The clock the minion loop reads and sets its timers on, so that tests can
 * give it fake time instead of waiting.
 *
 * @module
 */

import { setLongTimeout, timerDelay } from "./timer.ts";

/** A timer that can be cancelled. */
export interface ClockTimer {
  /** Cancels it; calling it after it fired does nothing. */
  clear(): void;
}

/** Time and timers: the real ones ({@linkcode systemClock}) or a fake. */
export interface Clock {
  /** The time in ms since the epoch, like `Date.now`. */
  now(): number;
  /** A monotonic time in ms for measuring durations, like `performance.now`. */
  monotonic(): number;
  /** Calls `fn` once after `ms`, however long (30 days is 30 days). */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** Calls `fn` every `ms` (a period past 24.8 days is as good as never). */
  setInterval(fn: () => void, ms: number): ClockTimer;
}

/**
 * The real clock: `Date.now`, `performance.now` and the platform's timers,
 * with delays past 2^31-1 ms kept correct (`core/timer.ts`).
 *
 * @example Cancel a timer
 * ```ts
 * import { systemClock } from "./clock.ts";
 *
 * const timer = systemClock.setTimeout(() => console.log("late"), 60_000);
 * timer.clear();
 * ```
 */
export const systemClock: Clock = {
  now: Date.now,
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setLongTimeout(fn, ms),
  setInterval(fn, ms) {
    const id = setInterval(fn, timerDelay(ms));
    return { clear: () => clearInterval(id) };
  },
};
