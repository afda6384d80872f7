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
import {
  checkDirectory,
  concat,
  INDEX_PREFIX,
  LOCK_MARK,
  LOG,
  LOG_HEADER_BODY,
  LOG_HEADER_LENGTH,
  logHeader,
  OLD_JOURNAL,
  path,
  SweepError,
} from "./files.ts";
import { type FsProfile, fsProfile } from "./fs_profile.ts";
import { Journal } from "./journal.ts";
import { allAborted, withLock } from "./lock.ts";
import {
  encodeRecord,
  type LogRecord,
  scanRecords,
  skipRecord,
} from "./log.ts";
import {
  indexGenerations,
  newestIndex,
  readShard,
  removeStale,
  type SnapshotIndex,
  writeSnapshot,
} from "./snapshot.ts";
import { type ParamState, StateError, SweepState } from "./state.ts";

export { LOG, SweepError } from "./files.ts";
export type { SweepProblem } from "./files.ts";

/** Longest time an acknowledged record waits to be synced to disk, in ms. */
const SYNC_INTERVAL_MS = 1000;
/** A snapshot is written once the journal has grown this much past one. */
const COMPACT_BYTES = 1 << 20;
/** How long a snapshot announced by another process is waited for, in ms. */
const ANNOUNCED_WAIT_MS = 60_000;
/** Snapshot generations kept, for processes slow to catch up. */
const KEEP_GENERATIONS = 3;

/** What a transaction can do while it holds the lock. */
export interface Transaction {
  /** The state, caught up with every record written so far. */
  readonly state: SweepState;
  /** The time the lock was taken, in ms since the epoch. */
  readonly now: number;
  /** Applies a record to the state and writes it when the transaction ends. */
  append(type: string, id: number, body: string | object): void;
}

/** How a transaction runs. */
export interface TransactOptions {
  /** Gives up before taking the lock when aborted. */
  signal?: AbortSignal;
  /** Syncs the journal to disk (outside the lock) before resolving. */
  sync?: boolean;
}

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

/** The first state of a new sweep. */
export interface InitialState {
  /** Canonical JSON of each param, in order (id = index). */
  texts: string[];
  /** States of the params that are not plain todo. */
  states?: Map<number, ParamState>;
}

/** A sweep read without writing anything. */
export interface SweepView {
  /** The state, every shard loaded. */
  state: SweepState;
  /** Bytes at the journal's end that a crash tore (a minion voids them). */
  torn: number;
}

/** A transaction waiting for its turn. */
interface Pending {
  // deno-lint-ignore no-explicit-any
  work: (tx: Transaction) => any;
  options: TransactOptions;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The announced snapshot this process waits for, or must write. */
interface Announcement {
  generation: number;
  seenAt: number;
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
  #state = new SweepState();
  #offset = 0;
  /** The newest snapshot known whose records are all applied here. */
  #index: SnapshotIndex | undefined;
  /** The snapshot this state was seeded from (its shards load from it). */
  #seed: SnapshotIndex | undefined;
  #announced: Announcement | undefined;
  #stale = false;
  #pending: Pending[] = [];
  #running = false;
  #unsynced = false;
  #lastSync = 0;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
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
  }

  /** The state as of the last transaction (read it inside one to be current). */
  get state(): SweepState {
    return this.#state;
  }

  /** The journal's path. */
  get journalPath(): string {
    return path(this.dir, LOG);
  }

  /** The journal offset this process has read up to. */
  get offset(): number {
    return this.#offset;
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
      const torn = store.#catchUp(false);
      store.#state.loadAll();
      return { state: store.#state, torn };
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
      store.#join();
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

  /** Reads the header and the newest snapshot, then the journal after it. */
  #join(): void {
    const head = this.#journal.read(0, LOG_HEADER_LENGTH);
    if (head.length === 0) {
      throw new SweepError(
        indexGenerations(this.dir).length > 0 ? "corrupt" : "not-a-sweep",
        indexGenerations(this.dir).length > 0
          ? `${this.journalPath} is empty but snapshots exist: the journal was cut; restore it from a copy (if 'minionize sweep create' was interrupted, remove the directory and create the sweep again)`
          : `${this.dir} holds no sweep (its ${LOG} is empty)`,
      );
    }
    const header = scanRecords(head).records[0];
    if (header?.type !== "h" || header.body !== LOG_HEADER_BODY) {
      throw new SweepError(
        "corrupt",
        `${this.journalPath} is damaged at byte 0: its first ${LOG_HEADER_LENGTH} bytes are not the journal's header; restore the sweep from a copy`,
      );
    }
    const index = newestIndex(this.dir);
    if (!index) {
      throw new SweepError(
        "corrupt",
        `${this.dir} holds no whole snapshot (${INDEX_PREFIX}*) beside its journal; restore the sweep from a copy`,
      );
    }
    // The byte before what the snapshot covers ends a record: the journal
    // holds at least what the snapshot says it covers. A client cache may
    // not show it yet (the snapshot is newer than what it cached): ask again.
    const ends = () => this.#journal.read(index.covers - 1, 1)[0] === 0x0a;
    let whole = ends();
    for (let wait = 0; !whole && wait < JOIN_WAIT_MS; wait += 100) {
      if (this.profile.shared) this.#journal.refresh();
      Atomics.wait(NAP, 0, 0, 100);
      whole = ends();
    }
    if (!whole) {
      throw new SweepError(
        "corrupt",
        `${this.journalPath} ends before byte ${index.covers}, which ${INDEX_PREFIX}${index.generation} covers: the journal was cut; restore it from a copy`,
      );
    }
    this.#seedFrom(index);
    this.#catchUp(false);
  }

  #seedFrom(index: SnapshotIndex): void {
    this.#state = SweepState.seeded(
      {
        size: index.size,
        shards: index.shards.map((shard) => shard.counts),
        claims: index.claims,
      },
      (shard) => this.#loadShard(shard),
    );
    this.#seed = index;
    this.#index = index;
    this.#offset = index.covers;
  }

  /**
   * A shard not loaded yet: no record read since the seed changed it, so
   * any snapshot between the seed and what was read holds it as it is.
   */
  #loadShard(shard: number) {
    const tried = new Set<number>();
    for (const index of [this.#index, this.#seed]) {
      if (!index || tried.has(index.generation)) continue;
      tried.add(index.generation);
      try {
        return readShard(this.dir, index, shard);
      } catch (error) {
        if (!(error instanceof SweepError) || error.problem !== "not-a-sweep") {
          throw error;
        }
      }
    }
    const newer = newestIndex(this.dir, this.#offset);
    if (
      newer && !tried.has(newer.generation) &&
      newer.covers >= this.#seed!.covers
    ) {
      return readShard(this.dir, newer, shard);
    }
    throw new ShardGone(`shard ${shard} of ${this.dir} is gone`);
  }

  /**
   * Reads and applies what the journal holds past this process's offset.
   * Invalid bytes stop the reading; under the lock, a torn tail is voided
   * (`repair`), and invalid bytes that valid records follow are damage.
   *
   * @returns how many torn bytes were found at the end (and not voided)
   */
  #catchUp(repair: boolean): number {
    const torn = this.#read();
    if (!repair || torn === undefined) return torn?.length ?? 0;
    // We hold the lock, so no write is under way: a writer died mid-write.
    // Void its bytes with a skip record after them; cut nothing.
    const skip = skipRecord(torn, this.#offset);
    this.#journal.write(
      this.#offset + torn.length,
      skip,
      this.profile.syncEachWrite,
    );
    this.#offset += torn.length + skip.length;
    this.onRepair?.(torn.length);
    return 0;
  }

  /**
   * Under the lock: catches up with every byte the server holds. On a
   * shared filesystem the client is first made to drop its caches, and a
   * read that ends short of the size the server reports is read again:
   * writing after a stale view would write over another host's records.
   *
   * @throws {SweepError} when the client keeps hiding bytes
   */
  #catchUpLocked(): void {
    if (!this.profile.shared) {
      this.#catchUp(true);
      return;
    }
    const started = performance.now();
    const cached = this.#journal.size();
    while (true) {
      if (!this.#journal.refresh()) {
        this.#once(
          "refresh",
          `cannot set the mode of ${this.journalPath} (it belongs to another user), which is how minionize makes this host's filesystem client show what other hosts wrote: if minions run on several hosts, run them as the journal's owner`,
        );
        this.#catchUp(true);
        return;
      }
      const size = this.#journal.size();
      if (size > cached) {
        this.#once(
          "cache",
          `this host's filesystem client showed an old size of ${this.journalPath} until asked again: its caches hide for a while what other hosts write (GlusterFS performance.* caches, FUSE or NFS attribute caching); minionize asks the server at each step, so it stays correct, but turning those caches off makes it faster ('minionize sweep doctor' checks it)`,
        );
      }
      const torn = this.#read();
      const seen = this.#offset + (torn?.length ?? 0);
      if (seen >= size) break;
      if (performance.now() - started > STALE_WAIT_MS) {
        throw new SweepError(
          "corrupt",
          `the filesystem client of this host shows ${seen} bytes of ${this.journalPath} where its server holds ${size}, even after asking again: its caches hide what other hosts write, and writing now would write over it; turn its caching off (GlusterFS: 'gluster volume set VOLUME performance.stat-prefetch off' and the other performance.* caches, mount with attribute-timeout=0), then start the minions again; the sweep is intact`,
        );
      }
      Atomics.wait(NAP, 0, 0, 2);
    }
    this.#catchUp(true);
  }

  /**
   * Reads and applies the journal past this process's offset, up to the
   * first invalid bytes. Returns the invalid bytes at the end (a torn tail,
   * or a write under way when read without the lock), if any.
   *
   * @throws {SweepError} when valid records follow invalid bytes
   */
  #read(): Uint8Array | undefined {
    const bytes = this.#journal.read(this.#offset);
    if (bytes.length === 0) return undefined;
    const scan = scanRecords(bytes, this.#offset);
    this.#apply(scan.records, this.#offset + scan.consumed);
    this.#offset += scan.consumed;
    if (scan.invalidAt === undefined) return undefined;
    if (scan.validAfterInvalid) {
      throw new SweepError(
        "corrupt",
        `${this.journalPath} is damaged at byte ${this.#offset}: valid records follow bytes that are not a record and that no crash repair voided; restore the sweep from a copy`,
      );
    }
    return bytes.slice(scan.consumed);
  }

  #apply(records: LogRecord[], end: number): void {
    try {
      for (const record of records) {
        if (record.type === "g") this.#noteAnnouncement(record.id);
        this.#state.apply(record, end);
      }
    } catch (error) {
      this.#stale = true;
      if (error instanceof StateError || error instanceof SyntaxError) {
        throw new SweepError(
          "corrupt",
          `${this.journalPath} holds a record that does not fit the sweep (${error.message}); restore the sweep from a copy`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  #noteAnnouncement(generation: number): void {
    if (generation > (this.#announced?.generation ?? 0)) {
      this.#announced = { generation, seenAt: performance.now() };
    }
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
    return new Promise<T | undefined>((resolve, reject) => {
      this.#pending.push({
        work,
        options,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (!this.#running) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending.length > 0) {
        await this.#runBatch(this.#pending.splice(0));
      }
    } finally {
      this.#running = false;
    }
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
        this.#stale = true;
      }
    }
  }

  async #attempt(batch: Pending[]): Promise<void> {
    if (this.#stale) this.#rejoin();
    this.#catchUp(false);
    // The lock is given up only when every transaction of the batch was.
    const live = allAborted(batch.map((one) => one.options.signal));
    try {
      await this.#locked(batch, live.signal);
    } finally {
      live.dispose();
    }
  }

  async #locked(batch: Pending[], signal: AbortSignal): Promise<void> {
    let wrote = false;
    let announce: number | undefined;
    const outcomes: ({ value: unknown } | { error: unknown } | undefined)[] =
      [];
    const taken = await withLock(this.#journal.file, () => {
      this.#catchUpLocked();
      const chunks: Uint8Array[] = [];
      let length = 0;
      for (const one of batch) {
        if (one.options.signal?.aborted) {
          outcomes.push(undefined);
          continue;
        }
        const tx: Transaction = {
          state: this.#state,
          now: Date.now(),
          append: (type, id, body) => {
            const text = typeof body === "string" ? body : JSON.stringify(body);
            const line = encodeRecord(type, id, text);
            chunks.push(line);
            length += line.length;
            this.#state.apply({ type, id, body: text }, this.#offset + length);
          },
        };
        const before = length;
        try {
          outcomes.push({ value: one.work(tx) });
        } catch (error) {
          outcomes.push({ error });
          // The state ran ahead of what is written: write what the earlier
          // transactions appended, then reload.
          if (length > before) this.#stale = true;
          break;
        }
      }
      if (length > 0) {
        announce = this.#toAnnounce(length);
        if (announce !== undefined) {
          const line = encodeRecord("g", announce, "{}");
          chunks.push(line);
          length += line.length;
        }
        try {
          this.#journal.write(
            this.#offset,
            concat(chunks, length),
            this.profile.syncEachWrite,
          );
        } catch (error) {
          this.#stale = true;
          throw error;
        }
        this.#offset += length;
        wrote = true;
      }
      return true;
    }, {
      what: this.journalPath,
      signal,
      blocking: this.profile.blockingLocks,
      onLongWait: () =>
        this.#warn(
          `waiting for the lock on ${this.journalPath} for two minutes: another process holds it (a stopped minion, or a slow file server)`,
        ),
      ...(this.profile.trustedLocks ? {} : this.#markOptions()),
      ...(this.#onLockWait ? { onWaited: this.#onLockWait } : {}),
    });
    if (wrote) {
      if (this.profile.shared && !this.#clockChecked) this.#checkClock();
      if (announce !== undefined) this.#writeSnapshot(announce);
      if (
        batch.some((one) => one.options.sync) && !this.profile.syncEachWrite
      ) await this.#syncSoon();
    }
    if (!taken) {
      for (const one of batch) one.resolve(undefined);
      return;
    }
    // Transactions after one that failed did not run: they go again.
    this.#pending.unshift(...batch.slice(outcomes.length));
    outcomes.forEach((outcome, index) => {
      const one = batch[index]!;
      if (outcome && "error" in outcome) one.reject(outcome.error);
      else one.resolve(outcome?.value);
    });
  }

  #markOptions() {
    return {
      mark: path(this.dir, LOCK_MARK),
      onSharedHolder: () =>
        this.#once(
          "locks",
          `the lock on ${this.journalPath} did not keep out a minion of another host: this filesystem's locks hold on one host only (${
            this.profile.localLocks ??
              "as with NFS 'nolock' or 'local_lock', Lustre 'localflock', BeeGFS without tuneUseGlobalFileLocks"
          }); minionize goes on safely with its own lock mark, but mount with shared locks for speed ('minionize sweep doctor' checks it)`,
        ),
      onStale: () =>
        this.#warn(
          `cleared the lock mark ${
            path(this.dir, LOCK_MARK)
          } that a minion killed while writing left behind`,
        ),
    };
  }

  #once(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#warn(message);
  }

  /**
   * Warns once when this host's clock is far from the file server's, as the
   * journal's modification time after a write shows it. Leases do not
   * depend on it, but reports and `sweep status` times do.
   */
  #checkClock(): void {
    this.#clockChecked = true;
    try {
      const written = Deno.statSync(this.journalPath).mtime?.getTime();
      if (written === undefined) return;
      const offset = Date.now() - written;
      if (Math.abs(offset) > CLOCK_WARN_MS) {
        this.#warn(
          `this host's clock is ${Math.round(Math.abs(offset) / 1000)}s ${
            offset > 0 ? "ahead of" : "behind"
          } the file server's (from ${this.journalPath}'s modification time): leases do not depend on it, but times in reports do; set up NTP on this host`,
        );
      }
    } catch {
      // no modification time here: nothing to compare
    }
  }

  /**
   * The generation to announce with this write, when the journal has grown
   * far enough past the newest snapshot and nobody else is writing one.
   */
  #toAnnounce(appending: number): number | undefined {
    const base = this.#index?.covers ?? 0;
    if (this.#offset + appending - base < COMPACT_BYTES) return undefined;
    const announced = this.#announced;
    if (
      announced && announced.generation > (this.#index?.generation ?? 0) &&
      performance.now() - announced.seenAt < ANNOUNCED_WAIT_MS
    ) return undefined;
    // Catch up with snapshots written meanwhile before deciding.
    const newest = newestIndex(this.dir, this.#offset);
    if (newest && newest.generation > (this.#index?.generation ?? 0)) {
      this.#index = newest;
      if (this.#offset + appending - newest.covers < COMPACT_BYTES) {
        return undefined;
      }
    }
    const highest = Math.max(
      this.#index?.generation ?? 0,
      announced?.generation ?? 0,
      ...indexGenerations(this.dir),
    );
    this.#noteAnnouncement(highest + 1);
    return highest + 1;
  }

  /** Writes the snapshot this process announced; warns when it cannot. */
  #writeSnapshot(generation: number): void {
    try {
      this.#index = writeSnapshot(
        this.dir,
        generation,
        this.#offset,
        this.#state,
        this.#index,
      );
      removeStale(this.dir, KEEP_GENERATIONS);
    } catch (error) {
      // The journal holds everything: a missing snapshot only makes
      // joining slower. Another process writes the next one.
      this.#warn(
        `could not write a snapshot of ${this.dir}: ${
          (error as Error).message
        }`,
      );
    }
  }

  /** Writes a snapshot now (for tests and `sweep` commands). */
  async compact(): Promise<void> {
    let generation = 0;
    await this.transact((tx) => {
      generation = Math.max(
        this.#index?.generation ?? 0,
        this.#announced?.generation ?? 0,
        ...indexGenerations(this.dir),
      ) + 1;
      tx.append("g", generation, {});
    });
    this.#writeSnapshot(generation);
  }

  /** Starts again from the newest snapshot, after the state ran ahead. */
  #rejoin(): void {
    this.#stale = false;
    const index = newestIndex(this.dir);
    if (!index) {
      throw new SweepError(
        "corrupt",
        `${this.dir} holds no whole snapshot (${INDEX_PREFIX}*) any more; restore the sweep from a copy`,
      );
    }
    this.#seedFrom(index);
  }

  /**
   * Syncs the journal to disk at most once a second (outside the lock, so
   * others need not wait for the disk): at once when the last sync is older,
   * else by a timer. A record is in the kernel as soon as the transaction
   * ends; this bounds what a power cut of a local disk can take back.
   */
  async #syncSoon(): Promise<void> {
    this.#unsynced = true;
    const wait = this.#lastSync + SYNC_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.#unsynced = false;
      this.#lastSync = Date.now();
      await this.#journal.sync();
    } else if (this.#syncTimer === undefined) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined;
        if (!this.#unsynced) return;
        this.#unsynced = false;
        this.#lastSync = Date.now();
        this.#journal.sync().catch(() => {});
      }, wait);
      Deno.unrefTimer(this.#syncTimer);
    }
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
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    try {
      if (this.#unsynced) this.#journal.syncSync();
    } catch {
      // closed already
    }
    this.#journal.close();
  }
}

/** How long a joiner waits for a client cache to show the whole journal. */
const JOIN_WAIT_MS = 3000;
/** How long a lock holder waits for a client cache to show the whole journal. */
const STALE_WAIT_MS = 5000;
const NAP = new Int32Array(new SharedArrayBuffer(4));

/** How far this host's clock may be from the file server's, in ms. */
const CLOCK_WARN_MS = 10_000;

/** A shard file that cleaning removed before this process read it. */
class ShardGone extends Error {}

/** Whether `dir` holds a sweep of the first format, to be upgraded. */
export function holdsOldSweep(dir: string): boolean {
  try {
    return Deno.statSync(path(dir, OLD_JOURNAL)).size > 0;
  } catch {
    return false;
  }
}
