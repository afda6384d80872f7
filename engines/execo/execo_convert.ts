/**
 * `minionize sweep convert`: moves a sweep in Python execo's files to
 * minionize's own format, once no Python minion holds a param (or with
 * `force`, which gives those params back to the queue).
 *
 * Under execo's locks, so that no Python minion is between two steps:
 *
 * 1. `inprogress` gets minionize's marker first (its old content stays
 *    after it): a pickle whose item stops any Python `ParamSweeper` that
 *    reads it, at its next step or at its start, with a message, before it
 *    writes anything. minionize's minions still working in execo's files
 *    see it too and go on in the new format, keeping their claims.
 * 2. `sweeps` gets a marker first as well (execo's pickle stays after it):
 *    a Python minion that starts exits with the message at once.
 * 3. The sweep of minionize's format is created, with every param's state:
 *    done, failed (with the reason), held by a minion of minionize (same
 *    claim, same lease), or todo.
 *
 * A crash between those steps leaves the marker in `inprogress` and no
 * journal: the next process of minionize that opens the directory finishes
 * the conversion (Python minions already stop there).
 *
 * @module
 */

import {
  INDEX_PREFIX,
  LOG,
  path,
  SweepError,
  writeFileAtomically,
} from "./files.ts";
import { EXECO_SWEEPS, skipMarker } from "./execo_mirror.ts";
import { ExecoStore, setConverter } from "./execo_store.ts";
import { poisonPickle, stopPickle } from "./pickle_write.ts";
import { openShared, readShared, releaseShared } from "./posix_lock.ts";
import { CLAIMED, type ParamState, TODO } from "./param_state.ts";
import { SweepStore } from "./store.ts";
import type { InitialState } from "./state.ts";
import type { StoreOptions } from "./store.ts";

/** What a conversion did. */
export interface ConvertResult {
  /** Params in the sweep. */
  params: number;
  /** Params that Python minions held, given back to the queue (`force`). */
  released: number;
  /** Params held by minions of minionize, kept held. */
  held: number;
}

/** How {@linkcode convertSweep} converts. */
export interface ConvertOptions extends StoreOptions {
  /**
   * Gives the params that Python minions hold back to the queue instead of
   * refusing: for minions that were killed. @default {false}
   */
  force?: boolean;
}

/** What a Python minion prints when it meets a converted directory. */
export function movedMessage(dir: string): string {
  return `minionize: error: the sweep in '${dir}' was moved to the format of the new minionize (Deno) by 'minionize sweep convert' on ${
    new Date().toISOString()
  }; this Python minion stops so that no param runs twice (nothing was written): start the new minionize there instead`;
}

/** What a Python minion prints when it meets a sweep made by `sweep create`. */
export function createdMessage(dir: string): string {
  return `minionize: error: '${dir}' holds a sweep of the new minionize (Deno), made by 'minionize sweep create', which Python's ParamSweeper cannot read: run the new minionize on it (MINION_ENGINE=execo minionize ...)`;
}

/**
 * Moves the execo sweep in `dir` to minionize's format.
 *
 * @throws {SweepError} (`unsupported`) when Python minions hold params and
 * `force` is not given, or as {@linkcode ExecoStore.open}
 */
export async function convertSweep(
  dir: string,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  const store = await ExecoStore.open(dir, options);
  try {
    if (store.converted) {
      throw new SweepError("exists", `${dir} is in minionize's format already`);
    }
    return await store.underLock(() =>
      convertLocked(store, options.force ?? false, options)
    );
  } finally {
    store.close();
  }
}

/** The conversion itself; the caller holds execo's locks and is caught up. */
async function convertLocked(
  store: ExecoStore,
  force: boolean,
  options: StoreOptions,
): Promise<ConvertResult> {
  const { dir } = store;
  const { state } = store.mirror;
  state.loadAll();
  const external =
    [...state.claims.values()].filter((claim) => claim.external).length;
  if (external > 0 && !force) {
    throw new SweepError(
      "unsupported",
      `${external} params of ${dir} are held by Python minions (they are in ${dir}/inprogress): wait until no Python minion runs there and try again; if those minions were killed (execo never gives their params back), add --force to put their params back in the queue`,
    );
  }
  const states = new Map<number, ParamState>();
  let held = 0;
  for (let id = 0; id < state.size; id++) {
    const status = state.status[id]!;
    if (status === TODO) continue;
    const claim = state.claims.get(id);
    if (status === CLAIMED && claim?.external) {
      states.set(id, { st: TODO, a: state.attempts[id]! });
      continue;
    }
    if (status === CLAIMED) held++;
    states.set(id, state.paramState(id));
  }
  const initial: InitialState = { texts: [...state.texts], states };
  const message = movedMessage(dir);
  // 1. Python minions stop at their next step, ours switch.
  const old = store.readInProgress();
  if (!skipMarker(old).marker) {
    const poison = poisonPickle(message);
    const bytes = new Uint8Array(poison.length + old.length);
    bytes.set(poison);
    bytes.set(old, poison.length);
    store.writeInProgress(bytes);
  }
  // 2. Python minions that start stop at once.
  const sweepsFile = openShared(path(dir, EXECO_SWEEPS), { write: false });
  let sweeps: Uint8Array;
  try {
    sweeps = readShared(sweepsFile);
  } finally {
    releaseShared(sweepsFile);
  }
  if (!skipMarker(sweeps).marker) {
    writeFileAtomically(path(dir, EXECO_SWEEPS), (push) => {
      push(stopPickle(message));
      push(sweeps);
    });
  }
  // 3. The sweep in minionize's format.
  if (!holdsJournal(dir)) {
    const { onLockWait: _, ...createOptions } = options;
    const { store: created } = await SweepStore.create(
      dir,
      () => initial,
      createOptions,
    );
    created.close();
  }
  return { params: state.size, released: external, held };
}

function holdsJournal(dir: string): boolean {
  try {
    return Deno.statSync(path(dir, LOG)).size > 0 ||
      [...Deno.readDirSync(dir)].some((entry) =>
        entry.name.startsWith(INDEX_PREFIX)
      );
  } catch {
    return false;
  }
}

// A process that finds a conversion cut short by a crash finishes it.
setConverter(async (store, options) => {
  // Read what `inprogress` held before the marker: the claims to keep.
  store.mirror.applyInProgress(store.readInProgress(), Date.now(), true);
  await convertLocked(store, true, options);
});
