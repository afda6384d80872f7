/**
 * The events of the minion loop: they are built only when someone listens
 * (a reporter, or `onFailure` for failed runs), and they keep the tallies
 * the summary and the heartbeat give.
 *
 * @module
 */

import type {
  JsonValue,
  MinionEvent,
  MinionEventMap,
  Outcome,
  PhaseTimings,
  Reporter,
  SchedulerJob,
} from "./contracts.ts";
import { TaskFailure } from "./errors.ts";
import { message } from "./settle.ts";

/** What a `param.finished` event says, besides the minion's identity. */
export interface Finish {
  /** The param's sequence number in this minion. */
  seq: number;
  /** The slot it ran in. */
  slot: number;
  /** The param. */
  param: JsonValue;
  /** Which run of it this was. */
  attempt: number;
  /** How the run ended. */
  outcome: Outcome;
  /** The time each phase took. */
  timings: PhaseTimings;
  /** The failure to report: the run's error or what stopped it. @default {none} */
  failure?: unknown;
  /** What the callback threw, which may say where a program's output went. @default {none} */
  program?: unknown;
  /** False when the param never started (no `param.started` came before). @default {true} */
  ran?: boolean;
}

/** Who hears the loop's events, and who they are from. */
export interface LoopEventsOptions {
  /** Hears every event. @default {nobody} */
  reporter?: Reporter | undefined;
  /** Hears every failed run. @default {nobody} */
  onFailure?: ((event: MinionEventMap["param.finished"]) => void) | undefined;
  /** The minion's id. */
  minionId: string;
  /** The minion's host name. */
  host: string;
  /** The batch job it runs in. @default {none} */
  job?: SchedulerJob | undefined;
  /** Hears a reporter that failed. */
  warn(message: string): void;
}

/** The loop's events and tallies. */
export interface LoopEvents {
  /** Params finished, by outcome. */
  readonly counts: Record<Outcome, number>;
  /** Runs started and not finished. */
  readonly inFlight: number;
  /** Whether anyone hears `param.finished` (a reporter or `onFailure`). */
  readonly listening: boolean;
  /** Tells the reporter (never rejects; does nothing without a reporter). */
  emit<K extends keyof MinionEventMap>(
    type: K,
    fields: Omit<MinionEventMap[K], "time" | "minion" | "host" | "pid">,
  ): Promise<void> | undefined;
  /** A run of a param began. */
  started(
    seq: number,
    param: JsonValue,
    attempt: number,
    slot: number,
  ): Promise<void> | undefined;
  /** A run of a param ended (or a param ended without running). */
  finished(finish: Finish): Promise<void> | undefined;
}

/**
 * Makes the loop's events. Without a reporter and `onFailure` nothing is
 * built: a param costs two additions.
 *
 * @param options who listens, and the minion's identity
 * @returns the events and the tallies
 */
export function loopEvents(options: LoopEventsOptions): LoopEvents {
  const { reporter, onFailure, minionId, host, job, warn } = options;
  const counts = { done: 0, failed: 0, retried: 0, requeued: 0 };
  let inFlight = 0;
  const identity = () => ({
    time: new Date().toISOString(),
    minion: minionId,
    host,
    pid: Deno.pid,
  });
  const report = async (event: MinionEvent) => {
    try {
      await reporter!.report(event);
    } catch (error) {
      warn(`the reporter failed: ${message(error)}`);
    }
  };
  const emit: LoopEvents["emit"] = (type, fields) =>
    reporter &&
    report(
      {
        type,
        ...identity(),
        ...(job ? { job } : {}),
        ...fields,
      } as unknown as MinionEvent,
    );
  return {
    counts,
    get inFlight() {
      return inFlight;
    },
    listening: reporter !== undefined || onFailure !== undefined,
    emit,
    started(seq, param, attempt, slot) {
      inFlight++;
      return reporter && emit("param.started", { seq, param, attempt, slot });
    },
    finished(finish) {
      if (finish.ran !== false) inFlight--;
      counts[finish.outcome]++;
      if (!reporter && !onFailure) return undefined;
      const { failure, program, ran: _, ...rest } = finish;
      const failed = failure instanceof TaskFailure ? failure : undefined;
      // A run stopped by its timeout failed with a `TaskStop`; the program
      // it killed still says where its output went.
      const ran = failed ??
        (program instanceof TaskFailure ? program : undefined);
      const fields = {
        ...rest,
        ...(failure === undefined ? {} : { error: message(failure) }),
        ...(failed?.exitCode === undefined
          ? {}
          : { exitCode: failed.exitCode }),
        ...(failed?.signal === undefined ? {} : { signal: failed.signal }),
        ...(ran?.output === undefined ? {} : { output: ran.output }),
      };
      if (
        onFailure &&
        (finish.outcome === "failed" || finish.outcome === "retried")
      ) {
        onFailure({ ...fields, ...identity() });
      }
      return emit("param.finished", fields);
    },
  };
}
