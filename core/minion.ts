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
  JsonValue,
  MinionEvent,
  MinionEventMap,
  Outcome,
  PhaseTimings,
  Reporter,
  SchedulerJob,
  StopCause,
} from "./contracts.ts";
import { TaskFailure, TaskStop } from "./errors.ts";
import { hostname } from "./host.ts";
import { paramText } from "./param.ts";
import { longTimeoutSignal, setLongTimeout, timerDelay } from "./timer.ts";
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
  /** The clock `deadline` is read on, in ms since the epoch. @default {Date.now} */
  now?: () => number;
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
  /** Receives warnings (an ack that failed, ...). @default {writes to stderr} */
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

/** How long a program killed by SIGTERM/SIGINT waits for the minion's own shutdown. */
const SHUTDOWN_WINDOW_MS = 500;

/** A minion id unique across hosts and restarts: `host-pid-xxxx`. */
export function newMinionId(host: string = hostname()): string {
  const suffix = crypto.getRandomValues(new Uint8Array(2));
  return `${host}-${Deno.pid}-${
    Array.from(suffix, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface RunResult {
  /** How long the run took on the minion's clock, in ms. */
  elapsed: number;
  error: unknown;
  stop: TaskStop | undefined;
  timings: PhaseTimings;
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
  const warn = options.warn ??
    ((text: string) =>
      Deno.stderr.writeSync(encoder.encode(`minionize: warning: ${text}\n`)));
  const print = options.print ??
    ((line: string) => Deno.stdout.writeSync(encoder.encode(`${line}\n`)));

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
    shutdown.abort();
  };
  if (options.signal?.aborted) onSignal();
  options.signal?.addEventListener("abort", onSignal, { once: true });

  const clock = options.now ?? Date.now;
  const walltime = options.deadline === undefined
    ? undefined
    : walltimeGuard(options.deadline, clock);
  const outOfTime = () => {
    const late = walltime?.tooLate();
    if (late === undefined) return false;
    warn(`taking no more params: ${late}`);
    stopTaking("walltime");
    return true;
  };

  const counts = { done: 0, failed: 0, retried: 0, requeued: 0 };
  let claimed = 0;
  let seq = 0;
  let inFlight = 0;

  const emit = async <K extends keyof MinionEventMap>(
    type: K,
    fields: Omit<MinionEventMap[K], "time" | "minion" | "host" | "pid">,
  ) => {
    if (type === "param.started") inFlight++;
    if (type === "param.finished") inFlight--;
    if (!reporter) return;
    const event = {
      type,
      time: new Date().toISOString(),
      minion: minionId,
      host,
      pid: Deno.pid,
      ...(options.job ? { job: options.job } : {}),
      ...fields,
    } as unknown as MinionEvent;
    try {
      await reporter.report(event);
    } catch (error) {
      warn(`the reporter failed: ${message(error)}`);
    }
  };

  const settle = async (
    what: string,
    param: JsonValue,
    act: () => Promise<void>,
  ) => {
    try {
      await act();
    } catch (error) {
      warn(
        `could not ${what} param ${paramText(param)}: ${
          message(error)
        }; the queue may hand it out again`,
      );
    }
  };

  // Engines are never asked for two params at once: calls queue up here.
  let intake: Promise<unknown> = Promise.resolve();
  const take = (): Promise<Delivery | undefined> => {
    const turn = intake.then(async () => {
      if (taking.signal.aborted) return undefined;
      if (options.maxParams !== undefined && claimed >= options.maxParams) {
        stopTaking("max-params");
        return undefined;
      }
      if (outOfTime()) return undefined;
      const idle = options.idleExitMs === undefined
        ? undefined
        : longTimeoutSignal(options.idleExitMs);
      const signal = idle
        ? AbortSignal.any([taking.signal, idle])
        : taking.signal;
      let delivery: Delivery | undefined;
      try {
        delivery = await engine.next(signal);
      } catch (error) {
        if (!signal.aborted) throw error;
      }
      if (!delivery) {
        stopTaking(idle?.aborted ? "idle" : "drained");
        return undefined;
      }
      // The wait for a param may have been long: look at the time again.
      if (shutdown.signal.aborted || outOfTime()) {
        await settle("give back", delivery.param, () => delivery.release());
        return undefined;
      }
      claimed++;
      return delivery;
    });
    intake = turn.catch(() => {});
    return turn;
  };

  const runOnce = async (
    param: JsonValue,
    attempt: number,
    mySeq: number,
    slot: number,
    delivery: Delivery,
  ): Promise<RunResult> => {
    const task = new AbortController();
    const onShutdown = () =>
      task.abort(new TaskStop("shutdown", "the minion is stopping"));
    shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    if (shutdown.signal.aborted) onShutdown();
    const timer = options.timeoutMs === undefined ? undefined : setLongTimeout(
      () =>
        task.abort(
          new TaskStop(
            "timeout",
            `timed out after ${options.timeoutMs! / 1000}s`,
          ),
        ),
      options.timeoutMs,
    );
    const renewer = delivery.renew && engine.renewEveryMs
      ? setInterval(() => {
        delivery.renew!().catch((error) =>
          warn(
            `could not renew the claim on ${paramText(param)}: ${
              message(error)
            }`,
          )
        );
      }, timerDelay(engine.renewEveryMs))
      : undefined;
    const context = {
      minionId,
      attempt,
      seq: mySeq,
      slot,
      signal: task.signal,
    };
    const timings: PhaseTimings = {
      next: 0,
      setup: 0,
      process: 0,
      teardown: 0,
    };
    let error: unknown;
    const began = clock();
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const spent = now - mark;
      mark = now;
      return Math.round(spent * 1000) / 1000;
    };
    try {
      try {
        await callback.setup?.(param, context);
      } finally {
        timings.setup = lap();
      }
      try {
        await callback.process(param, context);
      } catch (thrown) {
        error = thrown;
      }
      timings.process = lap();
      try {
        await callback.teardown?.(param, context);
      } catch (thrown) {
        error ??= thrown;
      }
      timings.teardown = lap();
    } catch (thrown) {
      error = thrown; // setup failed: process and teardown did not run
    } finally {
      timer?.clear();
      clearInterval(renewer);
      shutdown.signal.removeEventListener("abort", onShutdown);
    }
    const stop = task.signal.aborted
      ? task.signal.reason as TaskStop
      : undefined;
    return { elapsed: clock() - began, error, stop, timings };
  };

  // A scheduler often signals every process of a job at once (Slurm's
  // `scancel --full`, OAR), so a program may die of the minion's own
  // shutdown signal before the minion has heard it: give it a moment.
  const killedByShutdown = async (error: unknown): Promise<boolean> => {
    if (!(error instanceof TaskFailure)) return false;
    if (!["SIGTERM", "SIGINT", "SIGHUP"].includes(error.signal ?? "")) {
      return false;
    }
    if (!shutdown.signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SHUTDOWN_WINDOW_MS);
        shutdown.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    }
    return shutdown.signal.aborted;
  };

  const finished = (
    mySeq: number,
    slot: number,
    param: JsonValue,
    attempt: number,
    outcome: Outcome,
    timings: PhaseTimings,
    error?: unknown,
    program?: unknown,
  ) => {
    counts[outcome]++;
    const failure = error instanceof TaskFailure ? error : undefined;
    // A run stopped by its timeout failed with a `TaskStop`; the program it
    // killed still says where its output went.
    const ran = failure ??
      (program instanceof TaskFailure ? program : undefined);
    const fields = {
      seq: mySeq,
      param,
      attempt,
      outcome,
      slot,
      timings,
      ...(error === undefined ? {} : { error: message(error) }),
      ...(failure?.exitCode === undefined
        ? {}
        : { exitCode: failure.exitCode }),
      ...(failure?.signal === undefined ? {} : { signal: failure.signal }),
      ...(ran?.output === undefined ? {} : { output: ran.output }),
    };
    if (options.onFailure && (outcome === "failed" || outcome === "retried")) {
      options.onFailure({
        ...fields,
        time: new Date().toISOString(),
        minion: minionId,
        host,
        pid: Deno.pid,
      });
    }
    return emit("param.finished", fields);
  };

  // A worker is one of the `concurrency` places a task runs in: its slot.
  const handle = async (delivery: Delivery, nextMs: number, slot: number) => {
    const mySeq = ++seq;
    const { param } = delivery;
    if (options.dryRun) {
      print(callback.describe?.(param, slot) ?? paramText(param));
      await settle("give back", param, () => delivery.release());
      return;
    }
    let attempt = Math.max(1, delivery.attempt);
    const empty = { next: nextMs, setup: 0, process: 0, teardown: 0 };
    if (delivery.malformed !== undefined) {
      const reason = delivery.malformed;
      await emit("param.started", { seq: mySeq, param, attempt, slot });
      await settle("record the failure of", param, () => delivery.fail(reason));
      await finished(
        mySeq,
        slot,
        param,
        attempt,
        "failed",
        empty,
        new Error(reason),
      );
      return;
    }
    let next = nextMs;
    while (true) {
      if (shutdown.signal.aborted) {
        await settle("give back", param, () => delivery.release());
        await finished(mySeq, slot, param, attempt, "requeued", empty);
        return;
      }
      await emit("param.started", { seq: mySeq, param, attempt, slot });
      const { elapsed, error, stop, timings } = await runOnce(
        param,
        attempt,
        mySeq,
        slot,
        delivery,
      );
      if (!stop && await killedByShutdown(error)) {
        await settle("give back", param, () => delivery.release());
        await finished(mySeq, slot, param, attempt, "requeued", timings);
        return;
      }
      timings.next = next;
      next = 0;
      // A run that succeeded although the minion was stopping (the program
      // finished before the signal reached it) is done: giving it back
      // would only have it run twice.
      const stopping = stop?.reason === "shutdown";
      if (stopping && error !== undefined) {
        await settle("give back", param, () => delivery.release());
        await finished(mySeq, slot, param, attempt, "requeued", timings);
        return;
      }
      walltime?.record(elapsed);
      const failed = stopping ? undefined : stop ?? error;
      if (failed === undefined) {
        await settle("acknowledge", param, () => delivery.ack());
        await finished(mySeq, slot, param, attempt, "done", timings);
        return;
      }
      if (attempt <= retries) {
        if (engine.redelivers) {
          await settle("give back", param, () => delivery.nack());
          await finished(
            mySeq,
            slot,
            param,
            attempt,
            "retried",
            timings,
            failed,
            error,
          );
          return;
        }
        await finished(
          mySeq,
          slot,
          param,
          attempt,
          "retried",
          timings,
          failed,
          error,
        );
        attempt++;
        continue;
      }
      await settle(
        "record the failure of",
        param,
        () => delivery.fail(message(failed)),
      );
      await finished(
        mySeq,
        slot,
        param,
        attempt,
        "failed",
        timings,
        failed,
        error,
      );
      return;
    }
  };

  const worker = async (_: unknown, index: number) => {
    while (!taking.signal.aborted) {
      const started = performance.now();
      let delivery: Delivery | undefined;
      try {
        delivery = await take();
      } catch (error) {
        failure ??= error;
        stopTaking("error");
        return;
      }
      if (!delivery) return;
      await handle(
        delivery,
        Math.round((performance.now() - started) * 1000) / 1000,
        index + 1,
      );
    }
  };

  await emit("minion.started", {
    engine: engine.name,
    callback: options.callbackName ?? "function",
    concurrency,
  });
  const heartbeat = options.heartbeatMs === undefined || options.dryRun
    ? undefined
    : setInterval(
      () => void emit("minion.heartbeat", { inFlight }),
      timerDelay(options.heartbeatMs),
    );
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    clearInterval(heartbeat);
  }
  options.signal?.removeEventListener("abort", onSignal);

  const reason = cause ?? "drained";
  const signalName = options.signal?.reason;
  const exitCode = reason === "signal"
    ? signalName === "SIGINT" ? 130 : signalName === "SIGTERM" ? 143 : 1
    : reason === "error" || counts.failed > 0
    ? 1
    : 0;
  await emit("minion.stopped", {
    reason,
    exitCode,
    done: counts.done,
    failed: counts.failed,
  });
  if (failure !== undefined) throw failure;
  return { minionId, reason, exitCode, ...counts };
}
