/**
 * The life of one param in the minion loop: run it (again, in place, while
 * the retry policy says so), decide what its run comes to, settle it with
 * the engine and report it.
 *
 * @module
 */

import type { Callback, Delivery, Engine } from "./contracts.ts";
import type { Clock } from "./clock.ts";
import type { LoopEvents } from "./loop_events.ts";
import { decide, diedOfJobSignal } from "./outcome.ts";
import { paramText } from "./param.ts";
import { message, type Settle } from "./settle.ts";
import { runTask, type TaskRunOptions } from "./task_run.ts";
import type { WalltimeGuard } from "./walltime.ts";

/** How long a program killed by SIGTERM/SIGINT waits for the minion's own shutdown. */
const SHUTDOWN_WINDOW_MS = 500;

/** What {@linkcode paramHandler} works with. */
export interface ParamHandlerOptions {
  /** Where the params come from (whether it redelivers, how often to renew). */
  engine: Engine;
  /** What runs them. */
  callback: Callback;
  /** Extra runs of a failed param. */
  retries: number;
  /** Time limit of one run, in ms. @default {no limit} */
  timeoutMs?: number | undefined;
  /** Print what would run and give the param back. */
  dryRun: boolean;
  /** This minion's id, for the task's context. */
  minionId: string;
  /** Aborted with a `TaskStop` when the minion stops. */
  shutdown: AbortSignal;
  /** Where runs are reported and counted. */
  events: LoopEvents;
  /** Settles deliveries. */
  settle: Settle;
  /** Hears how long each counted run took. @default {nobody} */
  walltime?: WalltimeGuard | undefined;
  /** Receives dry-run lines. */
  print(line: string): void;
  /** Receives warnings. */
  warn(message: string): void;
  /** The clock of the timers. */
  clock: Clock;
}

/**
 * Makes the function a worker hands each delivery to.
 *
 * @param options the engine, callback, policy and the loop's sinks
 * @returns a function that resolves once the delivery is settled and
 *   reported; it never rejects
 */
export function paramHandler(
  options: ParamHandlerOptions,
): (delivery: Delivery, nextMs: number, slot: number) => Promise<void> {
  const { engine, callback, retries, dryRun, minionId, shutdown } = options;
  const { events, settle, walltime, print, warn, clock } = options;
  const { started, finished } = events;
  let seq = 0;

  // A scheduler often signals every process of a job at once (Slurm's
  // `scancel --full`, OAR), so a program may die of the minion's own
  // shutdown signal before the minion has heard it: give it a moment.
  const shutdownWithin = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = clock.setTimeout(() => {
        shutdown.removeEventListener("abort", onShutdown);
        resolve(false);
      }, ms);
      const onShutdown = () => {
        timer.clear();
        resolve(true);
      };
      shutdown.addEventListener("abort", onShutdown, { once: true });
    });

  const taskOptions: TaskRunOptions = {
    callback,
    minionId,
    shutdown,
    timeoutMs: options.timeoutMs,
    renewEveryMs: engine.renewEveryMs,
    onRenewError: (error, param) =>
      warn(
        `could not renew the claim on ${paramText(param)}: ${message(error)}`,
      ),
    phases: events.listening,
    elapsed: walltime !== undefined,
    clock,
  };

  return async (delivery: Delivery, nextMs: number, slot: number) => {
    const mySeq = ++seq;
    const { param } = delivery;
    if (dryRun) {
      print(callback.describe?.(param, slot) ?? paramText(param));
      await settle("release", delivery);
      return;
    }
    let attempt = Math.max(1, delivery.attempt);
    if (delivery.malformed !== undefined) {
      await started(mySeq, param, attempt, slot);
      const { settle: action, outcome, failure } = decide({
        attempt,
        malformed: delivery.malformed,
      });
      await settle(action, delivery, failure);
      await finished({
        seq: mySeq,
        slot,
        param,
        attempt,
        outcome,
        timings: { next: nextMs, setup: 0, process: 0, teardown: 0 },
        failure,
      });
      return;
    }
    let next = nextMs;
    while (true) {
      if (shutdown.aborted) {
        await settle("release", delivery);
        await finished({
          seq: mySeq,
          slot,
          param,
          attempt,
          outcome: "requeued",
          timings: { next: nextMs, setup: 0, process: 0, teardown: 0 },
          ran: false,
        });
        return;
      }
      // Without listeners these are not promises: no turn to wait for.
      const told = started(mySeq, param, attempt, slot);
      if (told) await told;
      const { elapsed, error, stop, timings } = await runTask(
        { delivery, attempt, seq: mySeq, slot },
        taskOptions,
      );
      const shuttingDown = shutdown.aborted ||
        (!stop && diedOfJobSignal(error) &&
          await shutdownWithin(SHUTDOWN_WINDOW_MS));
      const decision = decide({
        error,
        stop,
        shuttingDown,
        attempt,
        retries,
        redelivers: engine.redelivers,
      });
      timings.next = next;
      next = 0;
      if (decision.timed) walltime?.record(elapsed);
      const settled = settle(decision.settle, delivery, decision.failure);
      if (settled) await settled;
      const reported = finished({
        seq: mySeq,
        slot,
        param,
        attempt,
        outcome: decision.outcome,
        timings,
        ...(decision.failure === undefined
          ? {}
          : { failure: decision.failure, program: error }),
      });
      if (reported) await reported;
      if (!decision.again) return;
      attempt++;
    }
  };
}
