/**
 * The minion's intake: params are taken from the engine one at a time, so
 * that an engine is never asked for two at once, and the intake closes for
 * good when the queue is drained, stays empty too long, a limit is reached
 * or the minion stops.
 *
 * @module
 */

import type { Delivery, Engine, StopCause } from "./contracts.ts";
import type { Clock, ClockTimer } from "./clock.ts";

/** What the intake reads and tells the loop. */
export interface IntakeOptions {
  /** Where params come from. */
  engine: Engine;
  /** Aborted when the loop takes no more params. */
  taking: AbortSignal;
  /** Aborted when the minion stops: a param taken after that is given back. */
  shutdown: AbortSignal;
  /** Closes the intake, saying why (the first reason given wins). */
  stopTaking(cause: StopCause): void;
  /** Take no more than this many params. @default {no limit} */
  maxParams?: number | undefined;
  /** Close after waiting this long for a param, in ms. @default {wait forever} */
  idleExitMs?: number | undefined;
  /** Whether there is no time left for another param (it stops the intake itself). */
  outOfTime?: (() => boolean) | undefined;
  /** Gives back a param taken too late. */
  giveBack(delivery: Delivery): Promise<void> | undefined;
  /** The clock of the idle timer. */
  clock: Clock;
}

/**
 * Makes the function the loop's workers call to take their next param:
 * calls made while one is under way wait their turn, so that the engine's
 * `next` is never called twice at once.
 *
 * @param options the engine, the limits and the loop's signals
 * @returns a function resolving to the next delivery, or `undefined` once
 *   the intake is closed
 * @throws (from the function it returns) what the engine's `next` throws
 *   while the intake was open
 */
export function oneAtATime(
  options: IntakeOptions,
): () => Promise<Delivery | undefined> {
  const { engine, taking, shutdown, stopTaking, clock } = options;
  const { maxParams, idleExitMs, outOfTime } = options;
  let claimed = 0;

  const turn = async (): Promise<Delivery | undefined> => {
    if (taking.aborted) return undefined;
    if (maxParams !== undefined && claimed >= maxParams) {
      stopTaking("max-params");
      return undefined;
    }
    if (outOfTime?.()) return undefined;
    let signal = taking;
    let timedOut = false;
    let timer: ClockTimer | undefined;
    if (idleExitMs !== undefined) {
      const idle = new AbortController();
      timer = clock.setTimeout(() => {
        timedOut = true;
        idle.abort(new DOMException("Signal timed out.", "TimeoutError"));
      }, idleExitMs);
      signal = AbortSignal.any([taking, idle.signal]);
    }
    let delivery: Delivery | undefined;
    try {
      delivery = await engine.next(signal);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      // Cleared as soon as a param (or the end) comes, so that a long idle
      // limit never keeps a finished minion alive.
      timer?.clear();
    }
    if (!delivery) {
      stopTaking(timedOut ? "idle" : "drained");
      return undefined;
    }
    // The wait for a param may have been long: look at the time again.
    if (shutdown.aborted || outOfTime?.()) {
      await options.giveBack(delivery);
      return undefined;
    }
    claimed++;
    return delivery;
  };

  // Engines are never asked for two params at once: a caller that comes
  // while a turn is under way waits for it, in order. The turn is handed
  // on directly, so a lone worker waits for nobody.
  let busy = false;
  const waiting: (() => void)[] = [];
  const handOn = () => {
    const next = waiting.shift();
    if (next) next();
    else busy = false;
  };
  return async () => {
    if (busy) await new Promise<void>((resolve) => waiting.push(resolve));
    else busy = true;
    try {
      return await turn();
    } finally {
      handOn();
    }
  };
}
