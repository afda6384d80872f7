/**
 * The state of a sweep as one process has read it: seeded from the newest
 * snapshot, then caught up with the journal after it, record by record (see
 * `store.ts`). It reads; the store writes. Reading under the lock also
 * repairs: a record torn by a crash at the journal's end is voided by a
 * skip record written after it, and nothing is ever cut.
 *
 * @module
 */

import {
  INDEX_PREFIX,
  LOG,
  LOG_HEADER_BODY,
  LOG_HEADER_LENGTH,
  path,
  SweepError,
} from "./files.ts";
import type { FsProfile } from "./fs_profile.ts";
import type { Journal } from "./journal.ts";
import { type LogRecord, scanRecords, skipRecord } from "./log.ts";
import { StateError } from "./param_state.ts";
import {
  indexGenerations,
  newestIndex,
  readShard,
  type SnapshotIndex,
} from "./snapshot.ts";
import { SweepState } from "./state.ts";

/** How long a joiner waits for a client cache to show the whole journal. */
const JOIN_WAIT_MS = 3000;
/** How long a lock holder waits for a client cache to show the whole journal. */
const STALE_WAIT_MS = 5000;
const NAP = new Int32Array(new SharedArrayBuffer(4));

/** A shard file that cleaning removed before this process read it. */
export class ShardGone extends Error {}

/** The announced snapshot this process waits for, or must write. */
export interface Announcement {
  /** Its generation. */
  generation: number;
  /** When this process saw it announced (monotonic ms). */
  seenAt: number;
}

/** What a reader tells its store. */
export interface ReaderHooks {
  /** Told when bytes torn by a crash are voided. */
  onRepair: (bytes: number) => void;
  /** Told what the user should know, once per key. */
  once: (key: string, message: string) => void;
}

/** A sweep's state as this process read it, and where it stands in the journal. */
export class StoreReader {
  #dir: string;
  #journal: Journal;
  #profile: FsProfile;
  #hooks: ReaderHooks;
  #state = new SweepState();
  #offset = 0;
  /** The newest snapshot known whose records are all applied here. */
  #index: SnapshotIndex | undefined;
  /** The snapshot this state was seeded from (its shards load from it). */
  #seed: SnapshotIndex | undefined;
  #announced: Announcement | undefined;
  /** The state ran ahead of the journal: start again from a snapshot. */
  stale = false;

  /**
   * A reader of the sweep in `dir`, empty until it joins.
   *
   * @param journal the sweep's journal, opened
   */
  constructor(
    dir: string,
    journal: Journal,
    profile: FsProfile,
    hooks: ReaderHooks,
  ) {
    this.#dir = dir;
    this.#journal = journal;
    this.#profile = profile;
    this.#hooks = hooks;
  }

  /** The state, as of what was read. */
  get state(): SweepState {
    return this.#state;
  }

  /** The journal offset read up to. */
  get offset(): number {
    return this.#offset;
  }

  /** The newest snapshot known whose records are all applied here. */
  get index(): SnapshotIndex | undefined {
    return this.#index;
  }

  set index(index: SnapshotIndex | undefined) {
    this.#index = index;
  }

  /** The newest snapshot announced in the journal, if any. */
  get announced(): Announcement | undefined {
    return this.#announced;
  }

  /** The journal's path. */
  get journalPath(): string {
    return path(this.#dir, LOG);
  }

  /** Counts `length` bytes that this process wrote and applied. */
  advance(length: number): void {
    this.#offset += length;
  }

  /** Reads the header and the newest snapshot, then the journal after it. */
  join(): void {
    const head = this.#journal.read(0, LOG_HEADER_LENGTH);
    if (head.length === 0) {
      throw new SweepError(
        indexGenerations(this.#dir).length > 0 ? "corrupt" : "not-a-sweep",
        indexGenerations(this.#dir).length > 0
          ? `${this.journalPath} is empty but snapshots exist: the journal was cut; restore it from a copy (if 'minionize sweep create' was interrupted, remove the directory and create the sweep again)`
          : `${this.#dir} holds no sweep (its ${LOG} is empty)`,
      );
    }
    const header = scanRecords(head).records[0];
    if (header?.type !== "h" || header.body !== LOG_HEADER_BODY) {
      throw new SweepError(
        "corrupt",
        `${this.journalPath} is damaged at byte 0: its first ${LOG_HEADER_LENGTH} bytes are not the journal's header; restore the sweep from a copy`,
      );
    }
    const index = newestIndex(this.#dir);
    if (!index) {
      throw new SweepError(
        "corrupt",
        `${this.#dir} holds no whole snapshot (${INDEX_PREFIX}*) beside its journal; restore the sweep from a copy`,
      );
    }
    // The byte before what the snapshot covers ends a record: the journal
    // holds at least what the snapshot says it covers. A client cache may
    // not show it yet (the snapshot is newer than what it cached): ask again.
    const ends = () => this.#journal.read(index.covers - 1, 1)[0] === 0x0a;
    let whole = ends();
    for (let wait = 0; !whole && wait < JOIN_WAIT_MS; wait += 100) {
      if (this.#profile.shared) this.#journal.refresh();
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
    this.catchUp(false);
  }

  /** Starts again from the newest snapshot, after the state ran ahead. */
  rejoin(): void {
    this.stale = false;
    const index = newestIndex(this.#dir);
    if (!index) {
      throw new SweepError(
        "corrupt",
        `${this.#dir} holds no whole snapshot (${INDEX_PREFIX}*) any more; restore the sweep from a copy`,
      );
    }
    this.#seedFrom(index);
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
        return readShard(this.#dir, index, shard);
      } catch (error) {
        if (!(error instanceof SweepError) || error.problem !== "not-a-sweep") {
          throw error;
        }
      }
    }
    const newer = newestIndex(this.#dir, this.#offset);
    if (
      newer && !tried.has(newer.generation) &&
      newer.covers >= this.#seed!.covers
    ) {
      return readShard(this.#dir, newer, shard);
    }
    throw new ShardGone(`shard ${shard} of ${this.#dir} is gone`);
  }

  /**
   * Reads and applies what the journal holds past this process's offset.
   * Invalid bytes stop the reading; under the lock, a torn tail is voided
   * (`repair`), and invalid bytes that valid records follow are damage.
   *
   * @returns how many torn bytes were found at the end (and not voided)
   */
  catchUp(repair: boolean): number {
    const torn = this.#read();
    if (!repair || torn === undefined) return torn?.length ?? 0;
    // We hold the lock, so no write is under way: a writer died mid-write.
    // Void its bytes with a skip record after them; cut nothing.
    const skip = skipRecord(torn, this.#offset);
    this.#journal.write(
      this.#offset + torn.length,
      skip,
      this.#profile.syncEachWrite,
    );
    this.#offset += torn.length + skip.length;
    this.#hooks.onRepair(torn.length);
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
  catchUpLocked(): void {
    if (!this.#profile.shared) {
      this.catchUp(true);
      return;
    }
    const started = performance.now();
    const cached = this.#journal.size();
    while (true) {
      if (!this.#journal.refresh()) {
        this.#hooks.once(
          "refresh",
          `cannot set the mode of ${this.journalPath} (it belongs to another user), which is how minionize makes this host's filesystem client show what other hosts wrote: if minions run on several hosts, run them as the journal's owner`,
        );
        this.catchUp(true);
        return;
      }
      const size = this.#journal.size();
      if (size > cached) {
        this.#hooks.once(
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
    this.catchUp(true);
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
        if (record.type === "g") this.noteAnnouncement(record.id);
        this.#state.apply(record, end);
      }
    } catch (error) {
      this.stale = true;
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

  /** Notes a snapshot announced (in the journal, or by this process). */
  noteAnnouncement(generation: number): void {
    if (generation > (this.#announced?.generation ?? 0)) {
      this.#announced = { generation, seenAt: performance.now() };
    }
  }
}
