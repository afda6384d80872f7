/**
 * Sweep operations shared by the engine and `minionize sweep`: open (with
 * the one-time import of a Python execo sweep), create, add params, and the
 * wording of what went wrong.
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { ConfigError } from "../../core/errors.ts";
import { canonicalJson } from "../../core/param.ts";
import { isExecoSweep, readExecoSweep } from "./import_execo.ts";
import { DONE, FAILED } from "./state.ts";
import { JOURNAL, SNAPSHOT_PREFIX, SweepError, SweepStore } from "./store.ts";

/** Where a sweep lives when `EXECO_PERSISTENCE_DIR` is not set. */
export const DEFAULT_DIR = "sweeps";

/** How {@linkcode openSweep} opens. */
export interface OpenSweepOptions {
  /** Lease given to params an execo sweep had in progress, in ms. */
  leaseMs: number;
  /** Told when a torn record is cut off the journal. */
  onRepair?: (bytes: number) => void;
}

/**
 * Whether `dir` holds a sweep of ours: a journal that is not empty, or a
 * snapshot (an empty journal alone is what an import or a create that died
 * early leaves behind).
 */
async function holdsOurSweep(dir: string): Promise<boolean> {
  try {
    if ((await Deno.stat(`${dir}/${JOURNAL}`)).size > 0) return true;
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(SNAPSHOT_PREFIX)) return true;
    }
  } catch {
    // no journal, or no directory: not ours
  }
  return false;
}

/**
 * Opens the sweep in `dir`. A directory that holds only a Python execo
 * sweep is imported first, once, under the lock, keeping what execo had done
 * and in progress.
 *
 * @throws {SweepError} when `dir` is missing, holds no sweep or is damaged
 */
export async function openSweep(
  dir: string,
  options: OpenSweepOptions,
): Promise<SweepStore> {
  const repair = options.onRepair ? { onRepair: options.onRepair } : {};
  if (!(await holdsOurSweep(dir)) && (await isExecoSweep(dir))) {
    // Decoded before anything is written: a bad pickle changes no file.
    const initial = await readExecoSweep(dir, Date.now(), options.leaseMs);
    return (await SweepStore.openOrCreate(dir, () => initial, repair)).store;
  }
  return await SweepStore.open(dir, repair);
}

/**
 * Canonical texts of the params still to do in `dir`, without claiming or
 * importing anything (for dry runs).
 *
 * @throws {SweepError} as {@linkcode openSweep}
 */
export async function todoTexts(dir: string): Promise<string[]> {
  if (!(await holdsOurSweep(dir)) && (await isExecoSweep(dir))) {
    const { texts, states } = await readExecoSweep(dir, Date.now(), 0);
    return texts.filter((_, id) => !states?.has(id));
  }
  const store = await SweepStore.open(dir);
  try {
    return [...store.state.todoIds()].map((id) => store.state.texts[id]!);
  } finally {
    store.close();
  }
}

/**
 * How many params `dir` holds and how many are finished (done or failed),
 * without claiming or importing anything (for progress and ETAs).
 *
 * @throws {SweepError} as {@linkcode openSweep}
 */
export async function sweepCensus(
  dir: string,
): Promise<{ total: number; finished: number }> {
  if (!(await holdsOurSweep(dir)) && (await isExecoSweep(dir))) {
    const { texts, states } = await readExecoSweep(dir, Date.now(), 0);
    const finished = [...(states?.values() ?? [])]
      .filter((state) => state.st === DONE || state.st === FAILED).length;
    return { total: texts.length, finished };
  }
  const store = await SweepStore.open(dir);
  try {
    const { todo, claimed, done, failed } = store.state.counts;
    return { total: todo + claimed + done + failed, finished: done + failed };
  } finally {
    store.close();
  }
}

/**
 * Creates a sweep of `params` in `dir` (made if missing). Equal params
 * (same canonical JSON) are kept once.
 *
 * @returns the store and how many params it holds
 * @throws {SweepError} when `dir` already holds a sweep or cannot be written
 */
export async function createSweep(
  dir: string,
  params: Iterable<JsonValue>,
): Promise<{ store: SweepStore; count: number }> {
  if (await holdsOurSweep(dir)) {
    throw new SweepError(
      "exists",
      `${dir} already holds a sweep; add params with 'minionize sweep add', or choose another directory`,
    );
  }
  if (await isExecoSweep(dir)) {
    throw new SweepError(
      "exists",
      `${dir} holds a Python execo sweep, which is imported when first used; add params with 'minionize sweep add', or choose another directory`,
    );
  }
  const texts: string[] = [];
  const seen = new Set<string>();
  for (const param of params) {
    const text = canonicalJson(param);
    if (!seen.has(text)) {
      seen.add(text);
      texts.push(text);
    }
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (error) {
    throw new SweepError(
      "io",
      `cannot create ${dir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const { store, created } = await SweepStore.openOrCreate(
    dir,
    () => ({ texts }),
  );
  if (!created) {
    store.close();
    throw new SweepError(
      "exists",
      `${dir} already holds a sweep (created just now by another process); add params with 'minionize sweep add'`,
    );
  }
  return { store, count: texts.length };
}

/**
 * Adds `params` to an open sweep, in batches so the lock is held briefly.
 * A param already present (same canonical JSON), whatever its state, is
 * left alone, as in execo.
 *
 * @returns how many params were new
 */
export async function addParams(
  store: SweepStore,
  params: AsyncIterable<JsonValue> | Iterable<JsonValue>,
  batchSize = 10_000,
): Promise<number> {
  let added = 0;
  let batch: string[] = [];
  const flush = async () => {
    const texts = batch;
    batch = [];
    added += (await store.transact((tx) => {
      let count = 0;
      for (const text of texts) {
        if (tx.state.ids.has(text)) continue;
        tx.append("a", tx.state.size, text);
        count++;
      }
      return count;
    }, { sync: true }))!;
  };
  for await (const param of params) {
    batch.push(canonicalJson(param));
    if (batch.length >= batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  return added;
}

/** Param ids by status, for `list` and `status`. */
export function idsWithStatus(
  store: SweepStore,
  statuses: ReadonlySet<number>,
): number[] {
  const { status } = store.state;
  const out: number[] = [];
  for (let id = 0; id < status.length; id++) {
    if (statuses.has(status[id]!)) out.push(id);
  }
  return out;
}

/**
 * The one-line message for a sweep that cannot be used, naming the variable
 * (or option) that chose the directory.
 */
export function sweepConfigError(
  error: unknown,
  variable: string,
  dir: string,
): unknown {
  if (!(error instanceof SweepError)) return error;
  const fix: Record<string, string> = {
    missing:
      `create it with 'minionize sweep create', or set ${variable} to the sweep's directory`,
    "not-a-sweep":
      `create one with 'minionize sweep create', or set ${variable} to the sweep's directory`,
    corrupt: "",
    io: "make the directory and its files writable",
    exists: "",
  };
  const hint = fix[error.problem];
  return new ConfigError(
    variable,
    `Cannot use the sweep in ${variable} '${dir}': ${error.message}${
      hint ? `; ${hint}` : ""
    }`,
    { cause: error },
  );
}
