/**
 * A sweep on disk, seen from one process: a journal that is only ever
 * appended to, and snapshots that let a process start from a recent state
 * instead of the whole journal (see `files.ts` for the names, `snapshot.ts`
 * for their format).
 *
 * Every change is a transaction: catch up with the journal (first without
 * the lock, then the few bytes that came meanwhile under it), decide, append
 * the records at the end and let go. Nothing written is ever cut, reset or
 * overwritten:
 *
 * - a record torn by a crash is voided by a skip record written after it;
 * - a snapshot is written after the transaction that announced it, from
 *   the state as of that point, by the process that announced it; other
 *   processes keep their state and go on reading the journal;
 * - invalid bytes that no skip record voids, a header that does not read,
 *   or a journal shorter than its snapshot says: the sweep is refused with
 *   the byte at fault, and no file is changed.
 *
 * On a shared filesystem (see `fs_profile.ts`) a writer also takes the lock
 * mark, reads the journal past client caches, and syncs each write before
 * letting go, so that what one host wrote under the lock is what the next
 * one reads under it.
 *
 * @module
 */

import type { Env } from "../../core/contracts.ts";
import { checkClock, journalLockOptions } from "./_store_warnings.ts";
import { type BatchWritten, writeBatch } from "./_store_batch.ts";
import { nextGeneration, writeAnnounced } from "./_store_compaction.ts";
import { ShardGone, StoreReader } from "./_store_reader.ts";
import {
  checkDirectory,
  INDEX_PREFIX,
  LOCK_MARK,
  LOG,
  LOG_HEADER_LENGTH,
  logHeader,
  path,
  SweepError,
} from "./files.ts";
import { type FsProfile, fsProfile } from "./fs_profile.ts";
import { Journal } from "./journal.ts";
import { allAborted, withLock } from "./lock.ts";
import { StateError } from "./param_state.ts";
import { indexGenerations, writeSnapshot } from "./snapshot.ts";
import { type InitialState, SweepState } from "./state.ts";
import { SyncPacer } from "./sync_pacer.ts";
import {
  type Outcome,
  type Pending,
  type Transaction,
  TransactionQueue,
  type TransactOptions,
} from "./transaction.ts";

export { LOG, SweepError } from "./files.ts";
export type { SweepProblem } from "./files.ts";
export type { Transaction, TransactOptions } from "./transaction.ts";

/** How a store is opened. */
export interface StoreOptions {
  /** Where `EXECO_SHARED` is read. @default {no variables} */
  env?: Env;
  /** Told when bytes torn by a crash are voided. */
  onRepair?: (bytes: number) => void;
  /** Told what the user should know once: locks, clocks, full disks. */
  warn?: (message: string) => void;
  /** Told how long each transaction waited for the lock, in ms. */
  onLockWait?: (ms: number) => void;
}

/** A sweep read without writing anything. */
export interface SweepView {
  /** The state, every shard loaded. */
  state: SweepState;
  /** Bytes at the journal's end that a crash tore (a minion voids them). */
  torn: number;
}

/** An open sweep, seen from one process. */
export class SweepStore {
  /** The sweep's directory. */
  readonly dir: string;
  /** How the filesystem is used. */
  readonly profile: FsProfile;
  /** Told when bytes torn by a crash are voided. */
  onRepair: ((bytes: number) => void) | undefined;
  #warn: (message: string) => void;
  #onLockWait: ((ms: number) => void) | undefined;
  #warned = new Set<string>();
  #journal: Journal;
  #readOnly: boolean;
  #reader: StoreReader;
  #queue = new TransactionQueue((batch) => this.#runBatch(batch));
  #sync: SyncPacer;
  #clockChecked = false;

  private constructor(
    dir: string,
    journal: Journal,
    profile: FsProfile,
    readOnly: boolean,
    options: StoreOptions,
  ) {
    this.dir = dir;
    this.#journal = journal;
    this.profile = profile;
    this.#readOnly = readOnly;
    this.onRepair = options.onRepair;
    this.#warn = options.warn ?? (() => {});
    this.#onLockWait = options.onLockWait;
    this.#reader = new StoreReader(dir, journal, profile, {
      onRepair: (bytes) => this.onRepair?.(bytes),
      once: (key, message) => this.#once(key, message),
    });
    this.#sync = new SyncPacer({
      sync: () => journal.sync(),
      syncSync: () => journal.syncSync(),
      inline: true,
    });
  }

  /** The state as of the last transaction (read it inside one to be current). */
  get state(): SweepState {
    return this.#reader.state;
  }

  /** The journal's path. */
  get journalPath(): string {
    return path(this.dir, LOG);
  }

  /** The journal offset this process has read up to. */
  get offset(): number {
    return this.#reader.offset;
  }

  /**
   * Opens the sweep in `dir` for reading and writing, and voids a record
   * torn by a crash at the journal's end.
   *
   * @throws {SweepError} when `dir` is missing, holds no sweep or is damaged
   * (nothing is changed then)
   */
  static async open(
    dir: string,
    options: StoreOptions = {},
  ): Promise<SweepStore> {
    const store = await SweepStore.#open(dir, options, false);
    try {
      await store.transact(() => {});
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  }

  /**
   * Reads the sweep in `dir` without writing anything, nor taking any lock:
   * what a reader sees is a prefix of what writers wrote. Works on a
   * read-only mount.
   *
   * @throws {SweepError} when `dir` is missing, holds no sweep or is damaged
   */
  static async view(
    dir: string,
    options: StoreOptions = {},
  ): Promise<SweepView> {
    const store = await SweepStore.#open(dir, options, true);
    try {
      const torn = store.#reader.catchUp(false);
      store.state.loadAll();
      return { state: store.state, torn };
    } finally {
      store.close();
    }
  }

  static async #open(
    dir: string,
    options: StoreOptions,
    readOnly: boolean,
  ): Promise<SweepStore> {
    await checkDirectory(dir);
    const profile = fsProfile(dir, options.env);
    const log = path(dir, LOG);
    let journal: Journal;
    try {
      journal = await Journal.open(log, { readOnly, fresh: profile.shared });
    } catch (error) {
      if (error instanceof SweepError && error.problem === "not-a-sweep") {
        throw new SweepError(
          "not-a-sweep",
          `${dir} holds no sweep (no ${LOG}, and no 'sweeps' file of execo)`,
        );
      }
      throw error;
    }
    const store = new SweepStore(dir, journal, profile, readOnly, options);
    try {
      store.#reader.join();
    } catch (error) {
      journal.close();
      throw store.#explain(error);
    }
    return store;
  }

  /**
   * Creates a sweep in `dir` from `initial()`, unless the directory holds
   * one already. `initial` runs under the lock, so that of several processes
   * starting at once exactly one creates it.
   *
   * @returns the store, and whether this call created the sweep
   * @throws {SweepError} when `dir` is missing or cannot be written
   */
  static async create(
    dir: string,
    initial: () => InitialState,
    options: StoreOptions = {},
  ): Promise<{ store: SweepStore; created: boolean }> {
    await checkDirectory(dir);
    const profile = fsProfile(dir, options.env);
    const journal = await Journal.open(path(dir, LOG), {
      create: true,
      fresh: profile.shared,
    });
    let created = false;
    try {
      await withLock(journal.file, () => {
        if (journal.read(0, 1).length > 0) return;
        if (indexGenerations(dir).length > 0) {
          throw new SweepError(
            "corrupt",
            `${
              path(dir, LOG)
            } is empty but ${dir} holds ${INDEX_PREFIX}* files: if 'minionize sweep create' was interrupted, remove the directory and create the sweep again; otherwise restore ${LOG} from a copy`,
          );
        }
        const state = new SweepState();
        const { texts, states } = initial();
        texts.forEach((text, id) => state.apply({ type: "a", id, body: text }));
        for (const [id, param] of states ?? []) {
          state.apply({ type: "s", id, body: JSON.stringify(param) });
        }
        // The snapshot first: a journal with a header always has one.
        writeSnapshot(dir, 1, LOG_HEADER_LENGTH, state);
        journal.write(0, logHeader(), true);
        created = true;
      }, {
        what: path(dir, LOG),
        ...(profile.trustedLocks ? {} : { mark: path(dir, LOCK_MARK) }),
      });
    } finally {
      journal.close();
    }
    return { store: await SweepStore.open(dir, options), created };
  }

  /**
   * Runs `work` under the lock, with the state caught up, then writes what
   * it appended. `work` must be synchronous. Transactions asked for while
   * another one waits for the lock run together, in the order asked, under
   * one lock hold and one write (so a minion's ack and its next claim cost
   * one visit). Resolves undefined when `options.signal` aborted before the
   * lock was taken.
   *
   * @throws {SweepError} when the sweep turns out damaged, or a write fails
   */
  transact<T>(
    work: (tx: Transaction) => T,
    options: TransactOptions = {},
  ): Promise<T | undefined> {
    return this.#queue.transact(work, options);
  }

  /** Runs a batch of transactions; settles every one of them. */
  async #runBatch(batch: Pending[]): Promise<void> {
    if (this.#readOnly) {
      for (const one of batch) {
        one.reject(new Error("a view of a sweep cannot write"));
      }
      return;
    }
    for (let attempt = 0;; attempt++) {
      try {
        await this.#attempt(batch);
        return;
      } catch (error) {
        // A process slow to catch up may find a shard file cleaned away:
        // it starts again from the newest snapshot, once.
        if (!(error instanceof ShardGone) || attempt > 0) {
          const explained = this.#explain(error);
          for (const one of batch) one.reject(explained);
          return;
        }
        this.#reader.stale = true;
      }
    }
  }

  async #attempt(batch: Pending[]): Promise<void> {
    if (this.#reader.stale) this.#reader.rejoin();
    this.#reader.catchUp(false);
    // The lock is given up only when every transaction of the batch was.
    const live = allAborted(batch.map((one) => one.options.signal));
    try {
      await this.#locked(batch, live.signal);
    } finally {
      live.dispose();
    }
  }

  async #locked(batch: Pending[], signal: AbortSignal): Promise<void> {
    const outcomes: Outcome[] = [];
    let written: BatchWritten = { wrote: false, announce: undefined };
    const taken = await withLock(this.#journal.file, () => {
      written = writeBatch(
        this.#reader,
        this.#journal,
        this.profile,
        this.dir,
        batch,
        outcomes,
      );
      return true;
    }, journalLockOptions(this.#lockSetting, signal));
    const { wrote, announce } = written;
    if (wrote) {
      if (this.profile.shared && !this.#clockChecked) {
        this.#clockChecked = true;
        checkClock(this.journalPath, this.#warn);
      }
      if (announce !== undefined) {
        writeAnnounced(this.#reader, this.dir, announce, this.#warn);
      }
      if (
        batch.some((one) => one.options.sync) && !this.profile.syncEachWrite
      ) await this.#sync.soon();
    }
    if (!taken) {
      for (const one of batch) one.resolve(undefined);
      return;
    }
    // Transactions after one that failed did not run: they go again.
    this.#queue.settle(batch, outcomes);
  }

  get #lockSetting() {
    return {
      dir: this.dir,
      journalPath: this.journalPath,
      profile: this.profile,
      warn: this.#warn,
      once: (key: string, message: string) => this.#once(key, message),
      onLockWait: this.#onLockWait,
    };
  }

  #once(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#warn(message);
  }

  /** Writes a snapshot now (for tests and `sweep` commands). */
  async compact(): Promise<void> {
    let generation = 0;
    await this.transact((tx) => {
      generation = nextGeneration(this.#reader, this.dir);
      tx.append("g", generation, {});
    });
    writeAnnounced(this.#reader, this.dir, generation, this.#warn);
  }

  #explain(error: unknown): unknown {
    if (error instanceof SweepError) return error;
    if (error instanceof StateError) {
      return new SweepError(
        "corrupt",
        `${this.dir} holds a snapshot that does not fit its journal (${error.message}); restore the sweep from a copy`,
        { cause: error },
      );
    }
    return error;
  }

  /** Closes the journal, syncing what is not synced yet. */
  close(): void {
    this.#sync.close();
    this.#journal.close();
  }
}
