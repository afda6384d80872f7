/**
 * Sweep operations shared by the engine and `minionize sweep`: open (with
 * the one-time import of a Python execo sweep), create, add params, and the
 * wording of what went wrong.
 *
 * @module
 */

import type { Env, JsonValue } from "../../core/contracts.ts";
import { denial, flagFor, PERMISSIONS_HINT } from "../../core/denied.ts";
import { ConfigError } from "../../core/errors.ts";
import { canonicalJson } from "../../core/param.ts";
import { exists, INDEX_PREFIX, LOG, path } from "./files.ts";
import "./execo_convert.ts"; // finishes a conversion a crash cut short
import { createdMessage } from "./execo_convert.ts";
import { EXECO_IN_PROGRESS, EXECO_SWEEPS } from "./execo_mirror.ts";
import { ExecoStore } from "./execo_store.ts";
import { isExecoSweep, viewExeco } from "./execo_view.ts";
import { poisonPickle, stopPickle } from "./pickle_write.ts";
import type { SweepState } from "./state.ts";
import { SweepError, SweepStore } from "./store.ts";
import type { InitialState } from "./state.ts";
import { holdsOldSweep, moveOldSweep, readOldSweep } from "./upgrade.ts";

/** Where a sweep lives when `EXECO_PERSISTENCE_DIR` is not set. */
export const DEFAULT_DIR = "sweeps";

/**
 * An open sweep: in minionize's own format, or in Python execo's files
 * shared with Python minions (until `minionize sweep convert`).
 */
export type OpenSweep = SweepStore | ExecoStore;

/** How {@linkcode openSweep} opens. */
export interface OpenSweepOptions {
  /** Lease given to params an execo sweep had in progress, in ms. */
  leaseMs: number;
  /** Where `EXECO_SHARED` is read. */
  env?: Env;
  /** Told when bytes torn by a crash are voided. */
  onRepair?: (bytes: number) => void;
  /** Told what the user should know once (locks, clocks, disk space). */
  warn?: (message: string) => void;
  /** Told how long each transaction waited for the lock, in ms. */
  onLockWait?: (ms: number) => void;
}

/** Whether `dir` holds a sweep of ours (current format). */
function holdsOurSweep(dir: string): boolean {
  if (exists(path(dir, LOG))) return true;
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.startsWith(INDEX_PREFIX)) return true;
    }
  } catch {
    // no directory: not ours
  }
  return false;
}

/**
 * Opens the sweep in `dir`. A sweep of the first format is moved to the
 * current one. A directory that holds a Python execo sweep stays in
 * execo's files, shared with Python minions (see `execo_store.ts`), until
 * `minionize sweep convert` moves it.
 *
 * @throws {SweepError} when `dir` is missing, holds no sweep or is damaged
 */
export async function openSweep(
  dir: string,
  options: OpenSweepOptions,
): Promise<OpenSweep> {
  const storeOptions = {
    ...(options.env ? { env: options.env } : {}),
    ...(options.onRepair ? { onRepair: options.onRepair } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
    ...(options.onLockWait ? { onLockWait: options.onLockWait } : {}),
  };
  if (!holdsOurSweep(dir)) {
    let initial: InitialState | undefined;
    if (holdsOldSweep(dir)) {
      initial = await moveOldSweep(dir);
      options.warn?.(
        `moved the sweep in ${dir} to the current format (minionize 0.1 minions still running there stop at their next step)`,
      );
    } else if (isExecoSweep(dir)) {
      return await ExecoStore.open(dir, storeOptions);
    }
    if (initial) {
      const ready = initial;
      return (await SweepStore.create(dir, () => ready, storeOptions)).store;
    }
  }
  return await SweepStore.open(dir, storeOptions);
}

/**
 * The state of the sweep in `dir`, read without writing anything, taking
 * a lock, importing or moving anything: for `sweep status`, `sweep list`,
 * dry runs and `top`. Works on a read-only mount.
 *
 * @throws {SweepError} as {@linkcode openSweep}
 */
export async function viewSweep(
  dir: string,
  env: Env = {},
): Promise<{ state: SweepState; torn: number }> {
  if (!holdsOurSweep(dir)) {
    if (holdsOldSweep(dir)) return { state: readOldSweep(dir), torn: 0 };
    if (isExecoSweep(dir)) return { state: viewExeco(dir), torn: 0 };
  }
  return await SweepStore.view(dir, { env });
}

/**
 * Canonical texts of the params still to do in `dir`, without claiming or
 * importing anything (for dry runs).
 *
 * @throws {SweepError} as {@linkcode openSweep}
 */
export async function todoTexts(dir: string, env: Env = {}): Promise<string[]> {
  const { state } = await viewSweep(dir, env);
  return [...state.todoIds()].map((id) => state.texts[id]!);
}

/**
 * How many params `dir` holds and how many are finished (done or failed),
 * without claiming or importing anything (for progress and ETAs).
 *
 * @throws {SweepError} as {@linkcode openSweep}
 */
export async function sweepCensus(
  dir: string,
  env: Env = {},
): Promise<{ total: number; finished: number }> {
  const { state } = await viewSweep(dir, env);
  const { todo, claimed, done, failed } = state.counts;
  return { total: todo + claimed + done + failed, finished: done + failed };
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
  env?: Env,
): Promise<{ store: SweepStore; count: number }> {
  if (holdsOurSweep(dir) || holdsOldSweep(dir)) {
    throw new SweepError(
      "exists",
      `${dir} already holds a sweep; add params with 'minionize sweep add', or choose another directory`,
    );
  }
  if (isExecoSweep(dir)) {
    throw new SweepError(
      "exists",
      `${dir} holds a Python execo sweep, which minionize's minions share with Python minions as it is; move it to minionize's format with 'minionize sweep convert', or choose another directory`,
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
  const { store, created } = await SweepStore.create(
    dir,
    () => ({ texts }),
    env ? { env } : {},
  );
  if (!created) {
    store.close();
    throw new SweepError(
      "exists",
      `${dir} already holds a sweep (created just now by another process); add params with 'minionize sweep add'`,
    );
  }
  stopPythonMinions(dir);
  return { store, count: texts.length };
}

/**
 * Writes execo's `sweeps` and `inprogress` so that a Python minion started
 * on this sweep exits with a message saying what to do, instead of taking
 * the directory for an empty execo sweep (it would crash with `EOFError`
 * and leave an empty `sweeps` behind). Files that exist are left alone.
 */
function stopPythonMinions(dir: string): void {
  const message = createdMessage(dir);
  for (
    const [name, bytes] of [
      [EXECO_SWEEPS, stopPickle(message)],
      [EXECO_IN_PROGRESS, poisonPickle(message)],
    ] as const
  ) {
    try {
      Deno.writeFileSync(path(dir, name), bytes, { createNew: true });
    } catch {
      // there already, or not writable: a Python minion fails its own way
    }
  }
}

/**
 * Adds `params` to an open sweep, in batches so the lock is held briefly.
 * A param already present (same canonical JSON), whatever its state, is
 * left alone, as in execo.
 *
 * @returns how many params were new
 */
export async function addParams(
  store: OpenSweep,
  params: AsyncIterable<JsonValue> | Iterable<JsonValue>,
  batchSize = 10_000,
): Promise<number> {
  let added = 0;
  let batch: string[] = [];
  const flush = async () => {
    const texts = batch;
    batch = [];
    added += (await store.transact((tx) => {
      tx.state.loadAll(); // a param is new only if no shard holds it
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

/** Param ids by status, for `list` and `status` (every shard loaded). */
export function idsWithStatus(
  state: SweepState,
  statuses: ReadonlySet<number>,
): number[] {
  state.loadAll();
  const { status } = state;
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
    io: denial(error)
      ? `Deno denied it: run with ${flagFor("read", dir)} ${
        flagFor("write", dir)
      } (${PERMISSIONS_HINT})`
      : "make the directory and its files writable",
    exists: "",
    full: "",
    permission: "",
    unsupported: "",
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
