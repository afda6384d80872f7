/**
 * One run of a param through a callback: its setup, process and teardown,
 * the timeout that stops it, the renewals of its claim while it runs and the
 * time each phase took.
 *
 * @module
 */

import type {
  Callback,
  Delivery,
  JsonValue,
  PhaseTimings,
  TaskContext,
} from "./contracts.ts";
import type { Clock, ClockTimer } from "./clock.ts";
import { TaskStop } from "./errors.ts";

/** One run: the param, its delivery and where it runs. */
export interface TaskRun {
  /** The param's delivery, renewed while the run lasts. */
  delivery: Delivery;
  /** The attempt number, from 1. */
  attempt: number;
  /** The param's sequence number in this minion. */
  seq: number;
  /** The slot it runs in. */
  slot: number;
}

/** What every run of a minion shares. */
export interface TaskRunOptions {
  /** What runs the param. */
  callback: Callback;
  /** The minion's id, for the task's context. */
  minionId: string;
  /**
   * Aborted with a `TaskStop("shutdown")` when the minion stops: the run's
   * signal follows it.
   */
  shutdown: AbortSignal;
  /** The run's time limit in ms. @default {no limit} */
  timeoutMs?: number | undefined;
  /** Renew the claim this often, in ms, when the delivery can be renewed. @default {never} */
  renewEveryMs?: number | undefined;
  /** Hears a renewal that failed. */
  onRenewError(error: unknown, param: JsonValue): void;
  /**
   * Measure each phase (someone reads the timings). Reading the clock
   * costs about 0.1 µs a time, as much as the rest of the loop's work on a
   * param: runs nobody reads the timings of are not timed. @default {false}
   */
  phases?: boolean;
  /** Measure the run's `elapsed` time (the walltime guard reads it). @default {false} */
  elapsed?: boolean;
  /** The clock of the timers and timings. */
  clock: Clock;
}

/** How a run went. */
export interface TaskRunResult {
  /** How long the run took on the clock's `now`, in ms (0 when not measured). */
  elapsed: number;
  /** What the callback threw (setup's error wins over process and teardown). */
  error: unknown;
  /** What stopped the run, when its signal was aborted. */
  stop: TaskStop | undefined;
  /** Time spent in each phase (0 when not measured; `next` is the caller's). */
  timings: PhaseTimings;
}

/**
 * Runs a param through the callback's setup, process and teardown. Process
 * and teardown are skipped when setup throws; teardown runs when process
 * throws. The run's signal aborts on the timeout or the shutdown, with a
 * `TaskStop` saying which.
 *
 * @param run the delivery, its attempt and slot
 * @param options the callback, the limits and what to measure
 * @returns the error, what stopped the run and the phases' timings; it
 *   never rejects
 */
export async function runTask(
  run: TaskRun,
  options: TaskRunOptions,
): Promise<TaskRunResult> {
  const { callback, shutdown, clock, phases } = options;
  const { delivery } = run;
  const { param } = delivery;
  // Without a timeout a run stops only with the minion: it shares the
  // shutdown's signal, which costs nothing per param.
  let task: AbortController | undefined;
  let timer: ClockTimer | undefined;
  const onShutdown = () => task!.abort(shutdown.reason);
  if (options.timeoutMs !== undefined) {
    const ms = options.timeoutMs;
    const controller = task = new AbortController();
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener("abort", onShutdown, { once: true });
    timer = clock.setTimeout(
      () =>
        controller.abort(
          new TaskStop("timeout", `timed out after ${ms / 1000}s`),
        ),
      ms,
    );
  }
  const signal = task?.signal ?? shutdown;
  const renewer = delivery.renew && options.renewEveryMs
    ? clock.setInterval(() => {
      delivery.renew!().catch((error) => options.onRenewError(error, param));
    }, options.renewEveryMs)
    : undefined;
  const context: TaskContext = {
    minionId: options.minionId,
    attempt: run.attempt,
    seq: run.seq,
    slot: run.slot,
    signal,
  };
  const timings: PhaseTimings = { next: 0, setup: 0, process: 0, teardown: 0 };
  let error: unknown;
  const began = options.elapsed ? clock.now() : 0;
  let mark = phases ? clock.monotonic() : 0;
  const lap = () => {
    if (!phases) return 0;
    const now = clock.monotonic();
    const spent = now - mark;
    mark = now;
    return Math.round(spent * 1000) / 1000;
  };
  // A callback that returns nothing is not awaited: no turn of the event
  // loop for a function that is done.
  try {
    if (callback.setup) {
      try {
        const pending = callback.setup(param, context);
        if (pending) await pending;
      } finally {
        timings.setup = lap();
      }
    }
    try {
      const pending = callback.process(param, context);
      if (pending) await pending;
    } catch (thrown) {
      error = thrown;
    }
    timings.process = lap();
    if (callback.teardown) {
      try {
        const pending = callback.teardown(param, context);
        if (pending) await pending;
      } catch (thrown) {
        error ??= thrown;
      }
      timings.teardown = lap();
    }
  } catch (thrown) {
    error = thrown; // setup failed: process and teardown did not run
  } finally {
    timer?.clear();
    renewer?.clear();
    if (task) shutdown.removeEventListener("abort", onShutdown);
  }
  const stop = signal.aborted ? signal.reason as TaskStop : undefined;
  const elapsed = options.elapsed ? clock.now() - began : 0;
  return { elapsed, error, stop, timings };
}
