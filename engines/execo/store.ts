/**
 * A sweep on disk: a snapshot of the whole state plus an append-only journal
 * of what happened since, both in the record format of `log.ts`.
 *
 * - `minionize.journal`: a header naming the generation, then records. It
 *   is the lock (`flock`) and is never renamed, so every process locks the
 *   same file.
 * - `minionize.snapshot.G`: the state at the start of generation G, written
 *   to a temporary name, synced and renamed.
 *
 * Every operation takes the lock, reads the journal bytes it has not seen
 * yet (its offset is kept), appends its records and lets go: the cost
 * depends on what happened since its last visit, not on the sweep size. When
 * the journal outgrows the snapshot, the lock holder writes snapshot G+1 and
 * resets the journal to a header for G+1; others notice the new generation
 * and reload. A crash at any point leaves a state the next opener repairs.
 *
 * @module
 */

import {
  concat,
  HEADER_LENGTH,
  headerRecord,
  JOURNAL,
  openJournal,
  path,
  readAll,
  readHeader,
  SNAPSHOT_PREFIX,
  snapshotGenerations,
  SweepError,
  syncDirectory,
  writeAll,
} from "./files.ts";
import { encodeRecord, type LogRecord, scanRecords } from "./log.ts";

export { JOURNAL, SNAPSHOT_PREFIX, SweepError } from "./files.ts";
export type { SweepProblem } from "./files.ts";
import { sleep, withLock } from "./lock.ts";
import { type ParamState, StateError, SweepState, TODO } from "./state.ts";

/** How long a snapshot named by the journal may take to show up, in ms. */
const SNAPSHOT_WAIT_MS = 60_000;
/** Longest time an acknowledged record waits to be synced to disk, in ms. */
const SYNC_INTERVAL_MS = 1000;
/** The journal is compacted once it is larger than this and the snapshot. */
const COMPACT_MIN_BYTES = 1 << 20;

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

/** The first state of a new sweep. */
export interface InitialState {
  /** Canonical JSON of each param, in order (id = index). */
  texts: string[];
  /** States of the params that are not plain todo. */
  states?: Map<number, ParamState>;
}

/**
 * The journal names a snapshot this process cannot see: a lagging NFS
 * directory cache, or a snapshot lost. Retried out of the lock for a while.
 */
class NotVisibleYet extends Error {}

function exists(file: string): boolean {
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

/** An open sweep, seen from one process. */
export class SweepStore {
  /** The sweep's directory. */
  readonly dir: string;
  /** Told when a torn record is cut off the journal. */
  onRepair: ((bytes: number) => void) | undefined;
  /**
   * How long a snapshot named by the journal may take to show up before the
   * sweep is declared damaged, in ms (NFS directory caches lag).
   */
  snapshotWaitMs: number = SNAPSHOT_WAIT_MS;
  #file: Deno.FsFile;
  #state = new SweepState();
  #generation = -1;
  #offset = 0;
  #snapshotBytes = 0;
  #unsynced = false;
  #lastSync = 0;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(dir: string, file: Deno.FsFile) {
    this.dir = dir;
    this.#file = file;
  }

  /** The state as of the last transaction (read it inside one to be current). */
  get state(): SweepState {
    return this.#state;
  }

  /** The journal's path. */
  get journalPath(): string {
    return path(this.dir, JOURNAL);
  }

  /**
   * Opens the sweep in `dir` and loads it.
   *
   * @throws {SweepError} when `dir` is missing, holds no sweep or is damaged
   * beyond repair (nothing is changed then)
   */
  static async open(
    dir: string,
    options: { onRepair?: (bytes: number) => void; snapshotWaitMs?: number } =
      {},
  ): Promise<SweepStore> {
    const file = await openJournal(dir, false);
    const store = new SweepStore(dir, file);
    store.onRepair = options.onRepair;
    store.snapshotWaitMs = options.snapshotWaitMs ?? SNAPSHOT_WAIT_MS;
    try {
      await store.transact(() => {});
    } catch (error) {
      file.close();
      throw error;
    }
    return store;
  }

  /**
   * Opens the sweep in `dir`, creating it from `initial()` when the
   * directory holds none yet. `initial` runs under the lock, so that of
   * several processes starting at once exactly one creates the sweep.
   *
   * @returns the store, and whether this call created it
   * @throws {SweepError} when `dir` is missing or damaged
   */
  static async openOrCreate(
    dir: string,
    initial: () => InitialState,
    options: { onRepair?: (bytes: number) => void } = {},
  ): Promise<{ store: SweepStore; created: boolean }> {
    const file = await openJournal(dir, true);
    const store = new SweepStore(dir, file);
    store.onRepair = options.onRepair;
    let created = false;
    try {
      await withLock(file, () => {
        if (
          file.statSync().size === 0 && snapshotGenerations(dir).length === 0
        ) {
          store.#writeSnapshot(1, initial());
          file.truncateSync(0);
          file.seekSync(0, Deno.SeekMode.Start);
          writeAll(file, headerRecord(1));
          file.syncDataSync();
          created = true;
        }
      }, { what: path(dir, JOURNAL) });
      await store.transact(() => {});
    } catch (error) {
      file.close();
      throw error;
    }
    return { store, created };
  }

  /**
   * Runs `work` under the lock, with the state caught up, then writes what
   * it appended. `work` must be synchronous. Resolves undefined when
   * `options.signal` aborted before the lock was taken.
   *
   * @throws {SweepError} when the sweep turns out damaged beyond repair
   */
  async transact<T>(
    work: (tx: Transaction) => T,
    options: TransactOptions = {},
  ): Promise<T | undefined> {
    const deadline = Date.now() + this.snapshotWaitMs;
    while (true) {
      try {
        return await this.#transact(work, options);
      } catch (error) {
        if (!(error instanceof NotVisibleYet)) throw error;
        if (Date.now() > deadline) {
          throw new SweepError("corrupt", error.message, { cause: error });
        }
        // Out of the lock: let the listing catch up, then look again.
        await sleep(200, options.signal);
        if (options.signal?.aborted) return undefined;
      }
    }
  }

  async #transact<T>(
    work: (tx: Transaction) => T,
    options: TransactOptions,
  ): Promise<T | undefined> {
    let wrote = false;
    const result = await withLock(this.#file, () => {
      this.#catchUp();
      const chunks: Uint8Array[] = [];
      let length = 0;
      const tx: Transaction = {
        state: this.#state,
        now: Date.now(),
        append: (type, id, body) => {
          const text = typeof body === "string" ? body : JSON.stringify(body);
          const line = encodeRecord(type, id, text);
          this.#state.apply({ type, id, body: text });
          chunks.push(line);
          length += line.length;
        },
      };
      let value: T;
      try {
        value = work(tx);
      } catch (error) {
        if (length > 0) this.#generation = -1; // state ran ahead: reload
        throw error;
      }
      if (length > 0) {
        const bytes = chunks.length === 1 ? chunks[0]! : concat(chunks, length);
        // Appends go at the end, which must be where this process stopped
        // reading; anything else means the file was changed behind the lock.
        const end = this.#file.seekSync(0, Deno.SeekMode.End);
        if (end !== this.#offset) {
          this.#generation = -1;
          throw new SweepError(
            "corrupt",
            `${this.journalPath} is ${end} bytes long where ${this.#offset} were read: it was changed by something that does not take the lock; stop it, and check the sweep with 'minionize sweep status'`,
          );
        }
        try {
          writeAll(this.#file, bytes);
        } catch (error) {
          this.#generation = -1;
          try {
            this.#file.truncateSync(this.#offset);
          } catch {
            // the next opener cuts the torn record
          }
          throw error;
        }
        this.#offset += length;
        wrote = true;
        if (this.#offset > Math.max(COMPACT_MIN_BYTES, this.#snapshotBytes)) {
          this.#compact();
        }
      }
      return value;
    }, {
      what: this.journalPath,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (wrote && options.sync) await this.#syncSoon();
    return result;
  }

  /** Compacts now (under the lock): for tests and `sweep` commands. */
  async compact(): Promise<void> {
    await this.transact(() => this.#compact());
  }

  /**
   * Syncs the journal to disk at most once a second (outside the lock, so
   * others need not wait for the disk): at once when the last sync is older,
   * else by a timer. A record is in the kernel (and, on NFS, on the server,
   * since releasing a lock flushes) as soon as the transaction ends; this
   * bounds what a power cut of a local disk can take back.
   */
  async #syncSoon(): Promise<void> {
    this.#unsynced = true;
    const wait = this.#lastSync + SYNC_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.#unsynced = false;
      this.#lastSync = Date.now();
      await this.#file.syncData();
    } else if (this.#syncTimer === undefined) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined;
        if (!this.#unsynced) return;
        this.#unsynced = false;
        this.#lastSync = Date.now();
        this.#file.syncData().catch(() => {});
      }, wait);
      Deno.unrefTimer(this.#syncTimer);
    }
  }

  /** Closes the journal, syncing what is not synced yet. */
  close(): void {
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    try {
      if (this.#unsynced) this.#file.syncDataSync();
    } catch {
      // closed already
    }
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }

  #catchUp(): void {
    const header = readHeader(this.#file);
    if (header === undefined || header !== this.#generation) {
      this.#reload(header);
      return;
    }
    this.#readJournal();
  }

  /** Applies the journal's new bytes, cutting a torn tail. */
  #readJournal(): void {
    const bytes = readAll(this.#file, this.#offset);
    if (bytes.length === 0) return;
    const scan = scanRecords(bytes);
    this.#applyAll(scan.records, `${this.journalPath}`);
    if (scan.invalidAt !== undefined) {
      const at = this.#offset + scan.invalidAt;
      if (scan.validAfterInvalid) {
        this.#generation = -1;
        throw new SweepError(
          "corrupt",
          `${this.journalPath} is damaged at byte ${at}: valid records follow bytes that are not a record (a torn write only ever damages the end); restore the sweep from a copy, or cut the journal at that byte by hand`,
        );
      }
      // Only a writer that died mid-write leaves this: we hold the lock, so
      // no write is under way. Cut it so the next record starts clean.
      this.#file.truncateSync(at);
      this.#file.syncDataSync();
      this.onRepair?.(bytes.length - scan.invalidAt);
    }
    this.#offset += scan.consumed;
  }

  #applyAll(records: LogRecord[], where: string): void {
    try {
      for (const record of records) this.#state.apply(record);
    } catch (error) {
      this.#generation = -1;
      if (error instanceof StateError || error instanceof SyntaxError) {
        throw new SweepError(
          "corrupt",
          `${where} holds a record that does not fit the sweep (${error.message}); restore the sweep from a copy`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Loads the newest snapshot and its journal, repairing a crashed compaction. */
  #reload(journalGeneration: number | undefined): void {
    let newest = snapshotGenerations(this.dir)[0];
    // On NFS a directory listing can lag behind another node's rename: the
    // snapshot the header names is also looked up by name.
    if (
      journalGeneration !== undefined &&
      (newest === undefined || newest < journalGeneration) &&
      exists(path(this.dir, `${SNAPSHOT_PREFIX}${journalGeneration}`))
    ) {
      newest = journalGeneration;
    }
    if (newest === undefined && journalGeneration === undefined) {
      if (this.#file.statSync().size === 0) {
        throw new SweepError(
          "not-a-sweep",
          `${this.dir} holds no sweep (its ${JOURNAL} is empty)`,
        );
      }
      throw new SweepError(
        "corrupt",
        `${this.journalPath} has no valid header and ${this.dir} holds no ${SNAPSHOT_PREFIX}* file; restore the sweep from a copy`,
      );
    }
    if (
      journalGeneration !== undefined &&
      (newest === undefined || journalGeneration > newest)
    ) {
      throw new NotVisibleYet(
        `${this.journalPath} is at generation ${journalGeneration} but ${SNAPSHOT_PREFIX}${journalGeneration} cannot be found; restore it from a copy`,
      );
    }
    newest = newest!;
    const { state, bytes } = this.#readSnapshot(newest);
    this.#state = state;
    this.#snapshotBytes = bytes;
    this.#generation = newest;
    this.#offset = HEADER_LENGTH;
    if (journalGeneration === newest) {
      this.#readJournal();
    } else {
      // A compaction died after writing its snapshot: everything in the old
      // journal is in the snapshot already.
      this.#file.truncateSync(0);
      this.#file.seekSync(0, Deno.SeekMode.Start);
      writeAll(this.#file, headerRecord(newest));
      this.#file.syncDataSync();
    }
    this.#removeStale(newest);
  }

  #readSnapshot(generation: number): { state: SweepState; bytes: number } {
    const name = path(this.dir, `${SNAPSHOT_PREFIX}${generation}`);
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(name);
    } catch (error) {
      throw new SweepError(
        "io",
        `cannot read ${name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const scan = scanRecords(bytes);
    const first = scan.records[0];
    const last = scan.records.at(-1);
    const complete = scan.invalidAt === undefined && first?.type === "h" &&
      first.id === generation && last?.type === "z";
    if (!complete) {
      throw new SweepError(
        "corrupt",
        `${name} is damaged or incomplete; restore the sweep from a copy`,
      );
    }
    const state = new SweepState();
    const saved = this.#state;
    this.#state = state;
    try {
      this.#applyAll(scan.records, name);
    } finally {
      this.#state = saved;
    }
    if (state.size !== last!.id) {
      throw new SweepError(
        "corrupt",
        `${name} says it holds ${
          last!.id
        } params but holds ${state.size}; restore the sweep from a copy`,
      );
    }
    return { state, bytes: bytes.length };
  }

  /** Writes snapshot `generation` of `initial` (or of the current state). */
  #writeSnapshot(generation: number, initial?: InitialState): number {
    const final = path(this.dir, `${SNAPSHOT_PREFIX}${generation}`);
    const temporary = `${final}.tmp`;
    const file = Deno.openSync(temporary, {
      write: true,
      create: true,
      truncate: true,
    });
    let total = 0;
    try {
      const chunks: Uint8Array[] = [];
      let length = 0;
      const push = (line: Uint8Array) => {
        chunks.push(line);
        length += line.length;
        if (length >= 1 << 20) flush();
      };
      const flush = () => {
        writeAll(file, concat(chunks, length));
        total += length;
        chunks.length = 0;
        length = 0;
      };
      push(headerRecord(generation));
      const texts = initial?.texts ?? this.#state.texts;
      for (let id = 0; id < texts.length; id++) {
        push(encodeRecord("a", id, texts[id]!));
        const state = initial
          ? initial.states?.get(id)
          : this.#state.status[id] === TODO && this.#state.attempts[id] === 0
          ? undefined
          : this.#state.paramState(id);
        if (state) push(encodeRecord("s", id, JSON.stringify(state)));
      }
      push(encodeRecord("z", texts.length, "{}"));
      flush();
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(temporary, final);
    syncDirectory(this.dir);
    return total;
  }

  #compact(): void {
    const next = this.#generation + 1;
    const bytes = this.#writeSnapshot(next);
    this.#file.truncateSync(0);
    this.#file.seekSync(0, Deno.SeekMode.Start);
    writeAll(this.#file, headerRecord(next));
    this.#file.syncDataSync();
    this.#generation = next;
    this.#offset = HEADER_LENGTH;
    this.#snapshotBytes = bytes;
    this.#removeStale(next);
  }

  #removeStale(current: number): void {
    for (const entry of Deno.readDirSync(this.dir)) {
      if (!entry.name.startsWith(SNAPSHOT_PREFIX)) continue;
      const rest = entry.name.slice(SNAPSHOT_PREFIX.length);
      const generation = Number.parseInt(rest, 10);
      if (
        generation < current ||
        (generation === current && rest !== `${current}`)
      ) {
        try {
          Deno.removeSync(path(this.dir, entry.name));
        } catch {
          // another process removed it first
        }
      }
    }
  }
}
