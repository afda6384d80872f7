/**
 * What a batch of transactions on a sweep in execo's files writes, and
 * where (see `execo_store.ts`): claims and renewals go to
 * `minionize.claims` first, finished params to `done` as pickles, then
 * `inprogress` is rewritten when the set of params held changed, then
 * releases, retries and failures go to `minionize.claims`. That order
 * never leaves a param held by nobody in `inprogress` after a crash.
 *
 * @module
 */

import { SweepError } from "./files.ts";
import type { ExecoMirror } from "./execo_mirror.ts";
import { encodeRecord } from "./log.ts";
import { CLAIMED, DONE, FAILED, TODO } from "./param_state.ts";
import { writePickle } from "./pickle_write.ts";
import type { Outcome, Pending, Transaction } from "./transaction.ts";

/** What a batch wrote, by file, in the order it is written. */
export interface ExecoBatch {
  /** How each transaction ended (those after a failed one did not run). */
  outcomes: Outcome[];
  /** Records for `minionize.claims`, before the rest: claims, renewals. */
  early: Uint8Array[];
  /** Pickles of params finished, for `done`. */
  finished: Uint8Array[];
  /** Whether the set of params held changed (`inprogress` is rewritten). */
  inProgressChanged: boolean;
  /** Records for `minionize.claims`, after the rest: releases, retries, failures. */
  late: Uint8Array[];
}

/**
 * Runs the transactions of `batch` on the mirror's state, caught up under
 * the locks, and says what to write. Stops at the first that throws.
 */
export function planBatch(
  mirror: ExecoMirror,
  batch: Pending[],
  dir: string,
): ExecoBatch {
  const { state } = mirror;
  const plan: ExecoBatch = {
    outcomes: [],
    early: [],
    finished: [],
    inProgressChanged: false,
    late: [],
  };
  const { early, late, finished, outcomes } = plan;
  const record = (type: string, id: number, body: Record<string, unknown>) =>
    encodeRecord(type, 0, JSON.stringify({ ...body, t: state.texts[id] }));
  for (const one of batch) {
    if (one.options.signal?.aborted) {
      outcomes.push(undefined);
      continue;
    }
    const tx: Transaction = {
      state,
      now: Date.now(),
      append: (type, id, body) => {
        const fields =
          (typeof body === "string" ? JSON.parse(body) : body) as Record<
            string,
            unknown
          >;
        const before = state.status[id];
        switch (type) {
          case "c":
          case "e":
            early.push(record(type, id, fields));
            plan.inProgressChanged ||= type === "c";
            break;
          case "r":
          case "n":
            late.push(record(type, id, fields));
            plan.inProgressChanged = true;
            break;
          case "d":
          case "f":
            if (before === DONE || before === FAILED) break;
            finished.push(writePickle(mirror.pyValue(id)));
            if (type === "f") late.push(record(type, id, fields));
            plan.inProgressChanged ||= before === CLAIMED;
            break;
          case "s":
            if (before === FAILED || fields.st !== TODO) {
              throw unsupported(dir, "put failed params back to todo");
            }
            if (before === CLAIMED) {
              const owner = state.claims.get(id)?.owner;
              late.push(record("r", id, { o: owner }));
              plan.inProgressChanged = true;
              state.apply({
                type: "r",
                id,
                body: JSON.stringify({ o: owner }),
              });
            }
            return;
          case "g":
            return;
          default:
            throw unsupported(dir, "add params");
        }
        state.apply({ type, id, body: JSON.stringify(fields) });
      },
    };
    try {
      outcomes.push({ value: one.work(tx) });
    } catch (error) {
      outcomes.push({ error });
      break;
    }
  }
  return plan;
}

/** Whether a batch has anything to write. */
export function writes(plan: ExecoBatch): boolean {
  return plan.early.length + plan.finished.length + plan.late.length > 0 ||
    plan.inProgressChanged;
}

function unsupported(dir: string, what: string): SweepError {
  return new SweepError(
    "unsupported",
    `cannot ${what} in ${dir} while it holds Python execo's files (Python minions would not see it); move it to minionize's format first with 'minionize sweep convert' once no Python minion runs there`,
  );
}
