/**
 * A sweep in Python execo's files, read without writing, locking or
 * creating anything (for `sweep status`, `sweep list`, dry runs and `top`),
 * and how a directory is told to hold one.
 *
 * @module
 */

import { path, SweepError } from "./files.ts";
import { scanRecords } from "./log.ts";
import {
  CLAIMS,
  EXECO_DONE,
  EXECO_IN_PROGRESS,
  EXECO_SWEEPS,
  ExecoMirror,
  skipMarker,
} from "./execo_mirror.ts";
import { explainFile } from "./execo_store.ts";
import { readCurrent } from "./posix_lock.ts";
import type { SweepState } from "./state.ts";

/**
 * Whether `dir` holds a sweep of Python execo's: a `sweeps` file that is
 * not only minionize's marker (which a sweep of minionize's format made by
 * `sweep create` holds, to stop Python minions).
 */
export function isExecoSweep(dir: string): boolean {
  try {
    const bytes = read(path(dir, EXECO_SWEEPS));
    if (bytes === undefined) return false;
    const { marker, offset } = skipMarker(bytes);
    return !marker || offset < bytes.length;
  } catch {
    return false;
  }
}

/**
 * A file's bytes as they are now (see `readCurrent`: reading never drops
 * a lock this process holds); undefined when missing.
 */
const read = readCurrent;

/**
 * The state of the execo sweep in `dir`, read as it is: a pickle being
 * written (or torn) at the end of `done` is left out, and nothing is
 * changed. What a reader without the lock sees is a moment of the files.
 *
 * @throws {SweepError} when a file does not read
 */
export function viewExeco(dir: string): SweepState {
  try {
    const sweeps = read(path(dir, EXECO_SWEEPS));
    if (sweeps === undefined) {
      throw new SweepError("not-a-sweep", `${dir} holds no sweep`);
    }
    const mirror = ExecoMirror.fromSweeps(sweeps);
    const claims = read(path(dir, CLAIMS));
    if (claims) mirror.applyClaims(scanRecords(claims).records);
    const done = read(path(dir, EXECO_DONE));
    if (done) mirror.applyDone(done);
    const inProgress = read(path(dir, EXECO_IN_PROGRESS));
    if (inProgress) mirror.applyInProgress(inProgress, Date.now(), true);
    return mirror.state;
  } catch (error) {
    throw explainFile(dir, error);
  }
}
