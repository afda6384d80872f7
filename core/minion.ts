/**
 * The minion loop: take a param, run it, settle it, tell the reporter; N at
 * a time, until the queue is drained, a limit is reached or the caller's
 * signal aborts.
 *
 * @module
 */

import type {
  Callback,
  Delivery,
  Engine,
  MinionEventMap,
  Reporter,
  SchedulerJob,
  StopCause,
} from "./contracts.ts";
import { TaskStop } from "./errors.ts";
import { loopEvents } from "./loop_events.ts";
import { settler } from "./settle.ts";
import { hostname } from "./host.ts";
import { type Clock, systemClock } from "./clock.ts";
import { oneAtATime } from "./intake.ts";
import { exitCode } from "./outcome.ts";
import { paramHandler } from "./param_handler.ts";
import { walltimeGuard } from "./walltime.ts";

/** How a minion runs. */
export interface MinionOptions {
  /** Where params come from. */
  engine: Engine;
  /** What runs them. */
  callback: Callback;
  /** Who hears about them. @default {no reporter} */
  reporter?: Reporter;
  /** Params in flight at once. @default {1} */
  concurrency?: number;
  /** Extra runs of a failed param before it is recorded failed. @default {0} */
  retries?: number;
  /** Time limit of one run, in ms. @default {no limit} */
  timeoutMs?: number;
  /** Leave after taking this many params. @default {no limit} */
  maxParams?: number;
  /** Leave after waiting this long for a param, in ms. @default {wait forever} */
  idleExitMs?: number;
  /**
   * When the scheduler will kill this minion, in ms since the epoch: it
   * stops taking params once the time left is below the 95th percentile of
   * its runs. @default {no deadline}
   */
  deadline?: number;
  /** The clock `deadline` is read on, in ms since the epoch. @default {clock.now} */
  now?: () => number;
  /**
   * The clock of the loop's timers (timeout, renewals, heartbeat, idle
   * exit) and timings; tests give a fake one. @default {systemClock}
   */
  clock?: Clock;
  /** Print what would run, settle nothing. @default {false} */
  dryRun?: boolean;
  /**
   * Aborting it stops the minion: no new params are taken, running tasks are
   * told to stop and their params are given back. A reason of `"SIGINT"` or
   * `"SIGTERM"` sets the exit code to 130 or 143.
   */
  signal?: AbortSignal;
  /** This minion's id. @default {host-pid-random} */
  minionId?: string;
  /** The batch job it runs in, put on every event. @default {none} */
  job?: SchedulerJob;
  /** Name of the callback, for the `minion.started` event. @default {"function"} */
  callbackName?: string;
  /**
   * Send a `minion.heartbeat` event this often, in ms, so that readers of
   * reports can tell a minion busy with a long task from a dead one.
   * @default {no heartbeat}
   */
  heartbeatMs?: number;
  /** Receives dry-run lines. @default {writes to stdout} */
  print?: (line: string) => void;
  /** Receives warnings (an ack that failed, ...). @default {nobody} */
  warn?: (message: string) => void;
  /**
   * Hears every failed run (outcome `failed` or `retried`), whatever the
   * reporter: the CLI prints one line for each on stderr. Only failures
   * build an event for it, so it costs nothing while params succeed.
   * @default {nobody}
   */
  onFailure?: (event: MinionEventMap["param.finished"]) => void;
}

/** How a minion's run went. */
export interface MinionSummary {
  /** The minion's id. */
  minionId: string;
  /** Why it left. */
  reason: StopCause;
  /** 0 when every param succeeded, 1 when one failed, 130/143 on a signal. */
  exitCode: number;
  /** Params that succeeded. */
  done: number;
  /** Params recorded failed for good. */
  failed: number;
  /** Failed runs that were run again. */
  retried: number;
  /** Params given back unfinished because the minion stopped. */
  requeued: number;
}

export { hostname };

const encoder = new TextEncoder();

/** A minion id unique across hosts and restarts: `host-pid-xxxx`. */
export function newMinionId(host: string = hostname()): string {
  const suffix = crypto.getRandomValues(new Uint8Array(2));
  return `${host}-${Deno.pid}-${
    Array.from(suffix, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/**
 * Runs a minion until its queue is drained, a limit is reached or
 * `options.signal` aborts, and says how it went. It neither opens nor closes
 * the engine and reporter: the caller owns them.
 *
 * @param options the engine, callback and policy
 * @returns the counts and the reason it stopped
 * @throws whatever the engine throws when it cannot hand out params
 *
 * @example Run three params through a function
 * ```ts
 * import { runMinion } from "./minion.ts";
 * import type { Engine } from "./contracts.ts";
 *
 * const params = ["a", "b", "c"];
 * const engine: Engine = {
 *   name: "array",
 *   redelivers: false,
 *   next: () => {
 *     const param = params.shift();
 *     if (param === undefined) return Promise.resolve(undefined);
 *     const settle = () => Promise.resolve();
 *     return Promise.resolve({
 *       param, attempt: 1, id: param,
 *       ack: settle, nack: settle, release: settle, fail: settle,
 *     });
 *   },
 *   close: () => Promise.resolve(),
 * };
 * const seen: string[] = [];
 * const summary = await runMinion({
 *   engine,
 *   callback: { process: (p) => void seen.push(String(p)) },
 * });
 * if (summary.done !== 3) throw new Error("expected 3 done");
 * ```
 */
export async function runMinion(
  options: MinionOptions,
): Promise<MinionSummary> {
  const { engine, callback, reporter } = options;
  const concurrency = options.concurrency ?? 1;
  const retries = options.retries ?? 0;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Cannot run minion: concurrency is ${concurrency}; expected a whole number of at least 1`,
    );
  }
  const minionId = options.minionId ?? newMinionId();
  const host = hostname();
  const warn = options.warn ?? (() => {});
  const print = options.print ??
    ((line: string) => Deno.stdout.writeSync(encoder.encode(`${line}\n`)));
  const base = options.clock ?? systemClock;
  const clock = options.now ? { ...base, now: options.now } : base;

  // `taking` stops the intake; `shutdown` also stops running tasks.
  const taking = new AbortController();
  const shutdown = new AbortController();
  let cause: StopCause | undefined;
  let failure: unknown;
  const stopTaking = (why: StopCause) => {
    cause ??= why;
    taking.abort();
  };
  const onSignal = () => {
    stopTaking("signal");
    shutdown.abort(new TaskStop("shutdown", "the minion is stopping"));
  };
  if (options.signal?.aborted) onSignal();
  options.signal?.addEventListener("abort", onSignal, { once: true });

  const walltime = options.deadline === undefined
    ? undefined
    : walltimeGuard(options.deadline, clock.now);
  const outOfTime = walltime && (() => {
    const late = walltime.tooLate();
    if (late === undefined) return false;
    warn(`taking no more params: ${late}`);
    stopTaking("walltime");
    return true;
  });

  const events = loopEvents({
    reporter,
    onFailure: options.onFailure,
    minionId,
    host,
    job: options.job,
    warn,
  });
  const { counts } = events;
  const settle = settler(warn);

  const handle = paramHandler({
    engine,
    callback,
    retries,
    timeoutMs: options.timeoutMs,
    dryRun: options.dryRun ?? false,
    minionId,
    shutdown: shutdown.signal,
    events,
    settle,
    walltime,
    print,
    warn,
    clock,
  });

  const take = oneAtATime({
    engine,
    taking: taking.signal,
    shutdown: shutdown.signal,
    stopTaking,
    maxParams: options.maxParams,
    idleExitMs: options.idleExitMs,
    outOfTime,
    giveBack: (delivery) => settle("release", delivery),
    clock,
  });

  // Waits for the engine are timed only when someone reads the timings.
  const timed = events.listening;
  const worker = async (_: unknown, index: number) => {
    while (!taking.signal.aborted) {
      const began = timed ? clock.monotonic() : 0;
      let delivery: Delivery | undefined;
      try {
        delivery = await take();
      } catch (error) {
        failure ??= error;
        stopTaking("error");
        return;
      }
      if (!delivery) return;
      const waited = timed ? clock.monotonic() - began : 0;
      await handle(delivery, Math.round(waited * 1000) / 1000, index + 1);
    }
  };

  await events.emit("minion.started", {
    engine: engine.name,
    callback: options.callbackName ?? "function",
    concurrency,
  });
  const heartbeat = options.heartbeatMs === undefined || options.dryRun ||
      !reporter
    ? undefined
    : clock.setInterval(
      () => void events.emit("minion.heartbeat", { inFlight: events.inFlight }),
      options.heartbeatMs,
    );
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    heartbeat?.clear();
  }
  options.signal?.removeEventListener("abort", onSignal);

  const reason = cause ?? "drained";
  const code = exitCode({
    reason,
    signal: options.signal?.reason,
    failed: counts.failed,
  });
  await events.emit("minion.stopped", {
    reason,
    exitCode: code,
    done: counts.done,
    failed: counts.failed,
  });
  if (failure !== undefined) throw failure;
  return { minionId, reason, exitCode: code, ...counts };
}
