/**
 * Fake time for unit tests of the minion loop: timers fire when the test
 * moves the clock on, never by waiting.
 *
 * @module
 */

import type { Clock, ClockTimer } from "../core/clock.ts";

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  every?: number;
}

/** A clock whose time moves only when a test moves it. */
export class FakeClock implements Clock {
  #time = 0;
  #order = 0;
  #timers = new Set<Pending>();
  /** The epoch time the fake time starts at. */
  readonly epoch: number;

  /** Makes a clock at fake time 0, `epoch` ms since the epoch. */
  constructor(epoch = 1_800_000_000_000) {
    this.epoch = epoch;
  }

  /** Milliseconds since the epoch. */
  now = (): number => this.epoch + this.#time;

  /** Milliseconds since the clock was made. */
  monotonic = (): number => this.#time;

  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): ClockTimer {
    return this.#add({ at: this.#time + Math.max(0, ms), fn });
  }

  /** Calls `fn` every `ms`. */
  setInterval(fn: () => void, ms: number): ClockTimer {
    const every = Math.max(1, ms);
    return this.#add({ at: this.#time + every, fn, every });
  }

  /** Resolves after `ms` of fake time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves the time on by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.#time + ms;
    while (this.#fireNext(end)) await settle();
    this.#time = end;
    await settle();
  }

  /**
   * Waits for `promise`, moving the time on to the next timer whenever
   * nothing else is left to do: a test of an hour-long timeout takes no
   * time.
   */
  async run<T>(promise: Promise<T>): Promise<T> {
    let done = false;
    promise.then(() => done = true, () => done = true);
    await settle();
    while (!done) {
      this.#fireNext(Infinity);
      await settle();
    }
    return await promise;
  }

  #add(timer: Omit<Pending, "order">): ClockTimer {
    const pending = { ...timer, order: this.#order++ };
    this.#timers.add(pending);
    return { clear: () => void this.#timers.delete(pending) };
  }

  /** Fires the earliest timer due by `end`; false when there is none. */
  #fireNext(end: number): boolean {
    let next: Pending | undefined;
    for (const timer of this.#timers) {
      if (
        !next || timer.at < next.at ||
        (timer.at === next.at && timer.order < next.order)
      ) next = timer;
    }
    if (!next || next.at > end) return false;
    this.#time = Math.max(this.#time, next.at);
    if (next.every === undefined) this.#timers.delete(next);
    else {
      next.at += next.every;
      next.order = this.#order++;
    }
    next.fn();
    return true;
  }
}

/** Lets every promise that can settle without a timer settle. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
