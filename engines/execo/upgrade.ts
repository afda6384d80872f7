/**
 * Sweeps of the first format (minionize 0.1: `minionize.journal`, cut at
 * each compaction, and `minionize.snapshot.G`): read them, and move them to
 * the current format once.
 *
 * The move runs under the old journal's lock. It first appends to the old
 * journal a record that minionize 0.1 does not know, so that a 0.1 minion
 * still running there stops at its next step without writing anything,
 * then writes the new files. Nothing of the old files is removed.
 *
 * @module
 */

import {
  checkDirectory,
  OLD_JOURNAL,
  OLD_SNAPSHOT_PREFIX,
  path,
  SweepError,
  writeError,
} from "./files.ts";
import { withLock } from "./lock.ts";
import { encodeRecord, scanRecords } from "./log.ts";
import { SweepState } from "./state.ts";
import { type ParamState, StateError, TODO } from "./param_state.ts";
import type { InitialState } from "./state.ts";

const OLD_HEADER_BODY = JSON.stringify({
  format: "minionize-sweep",
  version: 1,
});
/** The record that tells 0.1 minions the sweep moved. */
const MOVED = "m";

/** Whether `dir` holds a sweep of the first format, to be upgraded. */
export function holdsOldSweep(dir: string): boolean {
  try {
    return Deno.statSync(path(dir, OLD_JOURNAL)).size > 0;
  } catch {
    return false;
  }
}

/**
 * The state of the first-format sweep in `dir`, read without writing.
 *
 * @throws {SweepError} when it is damaged
 */
export function readOldSweep(dir: string): SweepState {
  const journal = path(dir, OLD_JOURNAL);
  const bytes = Deno.readFileSync(journal);
  const scan = scanRecords(bytes);
  const [head, ...records] = scan.records;
  if (head?.type !== "h" || head.body !== OLD_HEADER_BODY) {
    throw new SweepError(
      "corrupt",
      `${journal} is damaged at byte 0: its header does not read; restore the sweep from a copy`,
    );
  }
  if (scan.validAfterInvalid && !onlyMovedAfter(bytes, scan.invalidAt!)) {
    throw new SweepError(
      "corrupt",
      `${journal} is damaged at byte ${scan.invalidAt}; restore the sweep from a copy`,
    );
  }
  const snapshot = path(dir, `${OLD_SNAPSHOT_PREFIX}${head.id}`);
  let snapshotBytes: Uint8Array;
  try {
    snapshotBytes = Deno.readFileSync(snapshot);
  } catch (error) {
    throw new SweepError(
      "corrupt",
      `${journal} names ${snapshot}, which cannot be read (${
        (error as Error).message
      }); restore the sweep from a copy`,
    );
  }
  const state = new SweepState();
  try {
    for (const record of scanRecords(snapshotBytes).records) {
      state.apply(record);
    }
    for (const record of records) {
      if (record.type !== MOVED) state.apply(record);
    }
  } catch (error) {
    if (error instanceof StateError || error instanceof SyntaxError) {
      throw new SweepError(
        "corrupt",
        `${journal} holds a record that does not fit the sweep (${error.message}); restore the sweep from a copy`,
      );
    }
    throw error;
  }
  return state;
}

/**
 * Whether the only valid records after the invalid bytes at `at` are moved
 * marks: a torn tail that a move appended after.
 */
function onlyMovedAfter(bytes: Uint8Array, at: number): boolean {
  const next = bytes.indexOf(0x0a, at);
  if (next < 0) return false;
  const rest = scanRecords(bytes.subarray(next + 1));
  return rest.invalidAt === undefined &&
    rest.records.every((record) => record.type === MOVED);
}

/** The whole of `state` as the first state of a new sweep. */
export function initialOf(state: SweepState): InitialState {
  const states = new Map<number, ParamState>();
  for (let id = 0; id < state.size; id++) {
    if (state.status[id] !== TODO || state.attempts[id] !== 0) {
      states.set(id, state.paramState(id));
    }
  }
  return { texts: [...state.texts], states };
}

/**
 * Moves the first-format sweep in `dir` to the current format: marks the
 * old journal moved, under its lock, and returns the state to create the
 * new sweep from.
 *
 * @throws {SweepError} when the old sweep is damaged or cannot be written
 */
export async function moveOldSweep(dir: string): Promise<InitialState> {
  await checkDirectory(dir);
  const journal = path(dir, OLD_JOURNAL);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(journal, { read: true, write: true });
  } catch (error) {
    throw writeError(journal, error);
  }
  try {
    const initial = await withLock(file, () => {
      const state = readOldSweep(dir);
      const end = file.seekSync(0, Deno.SeekMode.End);
      const record = encodeRecord(
        MOVED,
        0,
        JSON.stringify({ to: "minionize.log", by: "minionize 0.2" }),
      );
      // After a torn tail, start a line of its own.
      const moved = new Uint8Array(record.length + 1);
      moved[0] = 0x0a;
      moved.set(record, 1);
      file.seekSync(end, Deno.SeekMode.Start);
      let written = 0;
      while (written < moved.length) {
        written += file.writeSync(moved.subarray(written));
      }
      file.syncDataSync();
      return initialOf(state);
    }, { what: journal });
    return initial!;
  } finally {
    file.close();
  }
}
