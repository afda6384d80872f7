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
  PhaseTimings,
  TaskContext,
} from "./contracts.ts";
import type { Clock, ClockTimer } from "./clock.ts";
import { TaskStop } from "./errors.ts";

/** What {@linkcode runTask} needs besides the param. */
export interface TaskRunOptions {
  /** What runs the param. */
  callback: Callback;
  /** The param's delivery, renewed while the run lasts. */
  delivery: Delivery;
  /** The context handed to the callback, without its signal. */
  context: Omit<TaskContext, "signal">;
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
  onRenewError(error: unknown): void;
  /** The clock of the timers and timings. */
  clock: Clock;
}

/** How a run went. */
export interface TaskRunResult {
  /** How long the run took on the clock's `now`, in ms. */
  elapsed: number;
  /** What the callback threw (setup's error wins over process and teardown). */
  error: unknown;
  /** What stopped the run, when its signal was aborted. */
  stop: TaskStop | undefined;
  /** Time spent in each phase (`next` is left 0 for the caller). */
  timings: PhaseTimings;
}

/**
 * Runs `param` through the callback's setup, process and teardown. Process
 * and teardown are skipped when setup throws; teardown runs when process
 * throws. The run's signal aborts on the timeout or the shutdown, with a
 * `TaskStop` saying which.
 *
 * @param param the param
 * @param options the callback, the delivery and the limits
 * @returns the error, what stopped the run and the phases' timings; it
 *   never rejects
 */
export async function runTask(
  param: TaskRunOptions["delivery"]["param"],
  options: TaskRunOptions,
): Promise<TaskRunResult> {
  const { callback, delivery, shutdown, clock } = options;
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
      delivery.renew!().catch(options.onRenewError);
    }, options.renewEveryMs)
    : undefined;
  const context: TaskContext = { ...options.context, signal };
  const timings: PhaseTimings = { next: 0, setup: 0, process: 0, teardown: 0 };
  let error: unknown;
  const began = clock.now();
  let mark = clock.monotonic();
  const lap = () => {
    const now = clock.monotonic();
    const spent = now - mark;
    mark = now;
    return Math.round(spent * 1000) / 1000;
  };
  try {
    if (callback.setup) {
      try {
        await callback.setup(param, context);
      } finally {
        timings.setup = lap();
      }
    } else {
      timings.setup = lap();
    }
    try {
      await callback.process(param, context);
    } catch (thrown) {
      error = thrown;
    }
    timings.process = lap();
    if (callback.teardown) {
      try {
        await callback.teardown(param, context);
      } catch (thrown) {
        error ??= thrown;
      }
    }
    timings.teardown = lap();
  } catch (thrown) {
    error = thrown; // setup failed: process and teardown did not run
  } finally {
    timer?.clear();
    renewer?.clear();
    if (task) shutdown.removeEventListener("abort", onShutdown);
  }
  const stop = signal.aborted ? signal.reason as TaskStop : undefined;
  return { elapsed: clock.now() - began, error, stop, timings };
}
