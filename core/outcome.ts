/**
 * The outcome policy of the minion loop, as pure functions: what a run's
 * result (its error, what stopped it, its attempt) means for its param —
 * acknowledge it, give it back, run it again or record it failed — and what
 * a minion's exit code is. No timers, no I/O: the loop (`core/minion.ts`)
 * and `runner/launch.ts` act on what these say.
 *
 * @module
 */

import type { Outcome, StopCause } from "./contracts.ts";
import { TaskFailure, type TaskStop } from "./errors.ts";

/**
 * What to tell the engine about a param: `ack` it (done), `nack` it (the
 * engine runs it again later), `release` it (unfinished, not its fault),
 * `fail` it (failed for good), or nothing yet (`none`: it runs again here).
 */
export type SettleAction = "ack" | "nack" | "release" | "fail" | "none";

/** What happened to one run of a param, as {@linkcode decide} reads it. */
export interface RunFacts {
  /** What the callback threw, if anything. @default {nothing} */
  error?: unknown;
  /** What stopped the run, when its signal was aborted. @default {nothing} */
  stop?: TaskStop | undefined;
  /**
   * Whether the minion is stopping (it was signalled) by the time the run is
   * judged. @default {false}
   */
  shuttingDown?: boolean;
  /** Which run of the param this was, from 1. */
  attempt: number;
  /** Extra runs a failed param gets (`--retries`). @default {0} */
  retries?: number;
  /** Whether the engine hands a param given back with `nack` out again. @default {false} */
  redelivers?: boolean;
  /** Why the delivery is unusable, when it is (`Delivery.malformed`). @default {usable} */
  malformed?: string | undefined;
  /** Whether the run never started because the minion was stopping. @default {false} */
  notStarted?: boolean;
}

/** What {@linkcode decide} says to do with a param after a run. */
export interface Decision {
  /** What to tell the engine. */
  settle: SettleAction;
  /** What the `param.finished` event and the counts say. */
  outcome: Outcome;
  /** Whether to run the param again in place (`settle` is then `none`). */
  again: boolean;
  /**
   * The failure to report and to record with `fail`: the run's error, or the
   * timeout that stopped it. Unset when the run did not fail.
   */
  failure?: unknown;
  /** Whether the run's duration counts for the walltime guard's estimate. */
  timed: boolean;
}

/** Signals a scheduler sends every process of a job when it stops the job. */
const SHUTDOWN_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGHUP"]);

/**
 * Whether `error` says the program died of a signal a scheduler sends to a
 * whole job (SIGTERM, SIGINT, SIGHUP): it may have died of the minion's own
 * shutdown before the minion heard of it, so the loop waits a moment to see.
 *
 * @param error what the callback threw
 * @returns true when the program was ended by such a signal
 */
export function diedOfJobSignal(error: unknown): boolean {
  return error instanceof TaskFailure &&
    SHUTDOWN_SIGNALS.has(error.signal ?? "");
}

const DONE: Decision = {
  settle: "ack",
  outcome: "done",
  again: false,
  timed: true,
};
const REQUEUED: Decision = {
  settle: "release",
  outcome: "requeued",
  again: false,
  timed: false,
};

/**
 * Decides what a run of a param comes to.
 *
 * - A malformed delivery fails at once, without running.
 * - A param the minion stopped before running, or whose run the shutdown cut
 *   short (or killed with the job's signal), is given back unfinished.
 * - A run that succeeded is done, even when the minion was stopping: giving
 *   it back would only have it run twice.
 * - A failure (an error or a timeout) is retried while `attempt <= retries`:
 *   given back to an engine that redelivers, else run again in place; past
 *   that it is failed for good.
 *
 * @param facts what happened to the run and the retry settings
 * @returns what to tell the engine and what to report
 *
 * @example A second failure with one retry is recorded failed
 * ```ts
 * import { decide } from "./outcome.ts";
 *
 * const decision = decide({ error: new Error("boom"), attempt: 2, retries: 1 });
 * if (decision.settle !== "fail" || decision.outcome !== "failed") {
 *   throw new Error("expected a failure");
 * }
 * ```
 */
export function decide(facts: RunFacts): Decision {
  if (facts.malformed !== undefined) {
    return {
      settle: "fail",
      outcome: "failed",
      again: false,
      failure: new Error(facts.malformed),
      timed: false,
    };
  }
  if (facts.notStarted) return REQUEUED;
  const { error, stop } = facts;
  if (
    stop === undefined && facts.shuttingDown && diedOfJobSignal(error)
  ) {
    return REQUEUED;
  }
  const stopping = stop?.reason === "shutdown";
  if (stopping && error !== undefined) return REQUEUED;
  // A timeout is the failure even when the program it killed threw.
  const failure = stopping ? undefined : stop ?? error;
  if (failure === undefined) return DONE;
  if (facts.attempt <= (facts.retries ?? 0)) {
    return facts.redelivers
      ? {
        settle: "nack",
        outcome: "retried",
        again: false,
        failure,
        timed: true,
      }
      : {
        settle: "none",
        outcome: "retried",
        again: true,
        failure,
        timed: true,
      };
  }
  return {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure,
    timed: true,
  };
}

/** What {@linkcode exitCode} reads. */
export interface ExitFacts {
  /** Why the minion stopped. */
  reason: StopCause;
  /** The signal that stopped it (the abort reason), when one did. @default {none} */
  signal?: unknown;
  /** Params recorded failed for good. @default {0} */
  failed?: number;
}

/** Exit codes of a process ended by a signal, as shells report them. */
const SIGNAL_EXIT: Readonly<Record<string, number>> = {
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * A minion's exit code: 130 or 143 when SIGINT or SIGTERM stopped it (1 for
 * another abort), 1 when the engine failed or a param failed for good, else 0.
 *
 * @param facts why it stopped and how many params failed
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { exitCode } from "./outcome.ts";
 *
 * if (exitCode({ reason: "signal", signal: "SIGTERM" }) !== 143) {
 *   throw new Error("expected 143");
 * }
 * ```
 */
export function exitCode(facts: ExitFacts): number {
  if (facts.reason === "signal") {
    return (typeof facts.signal === "string"
      ? SIGNAL_EXIT[facts.signal]
      : undefined) ?? 1;
  }
  return facts.reason === "error" || (facts.failed ?? 0) > 0 ? 1 : 0;
}
