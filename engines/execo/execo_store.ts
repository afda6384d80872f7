/**
 * A sweep whose directory holds Python execo's files, shared with Python
 * minions: execo's files stay the source of truth (see `execo_mirror.ts`),
 * under execo's own locks (POSIX `lockf` on `done`, then `inprogress`), in
 * the format execo's `ParamSweeper` reads. So a Python minion sees what
 * minionize takes and finishes, and minionize sees what Python takes and
 * finishes; minionize's leases live beside them in `minionize.claims`.
 *
 * It offers the same transactions as the store of minionize's own format,
 * so the queue and `minionize sweep` use either. A transaction writes, in
 * this order, so that a crash between two writes never leaves a param held
 * by nobody in `inprogress`: new claims to `minionize.claims`, finished
 * params to `done`, the new `inprogress`, then releases and failures to
 * `minionize.claims`.
 *
 * Once the directory is moved to minionize's format (`sweep convert`,
 * which writes minionize's marker into `inprogress`), the next transaction
 * goes on with the new format, keeping this process's claims.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import {
  checkDirectory,
  concat,
  LOG,
  path,
  SweepError,
  writeError,
} from "./files.ts";
import { type FsProfile, fsProfile } from "./fs_profile.ts";
import { allAborted } from "./lock.ts";
import { encodeRecord, scanRecords, skipRecord } from "./log.ts";
import {
  CLAIMS,
  EXECO_DONE,
  EXECO_IN_PROGRESS,
  EXECO_SWEEPS,
  ExecoFileError,
  ExecoMirror,
} from "./execo_mirror.ts";
import { writePickle } from "./pickle_write.ts";
import {
  closeFresh,
  lockShared,
  openShared,
  readFresh,
  readShared,
  releaseShared,
  type SharedFile,
  sizeShared,
} from "./posix_lock.ts";
import type { SweepState } from "./state.ts";
import { CLAIMED, DONE, FAILED, TODO } from "./param_state.ts";
import type { StoreOptions, Transaction, TransactOptions } from "./store.ts";
import { SweepStore } from "./store.ts";

/** The first record of `minionize.claims`. */
const CLAIMS_HEADER = encodeRecord(
  "h",
  0,
  JSON.stringify({ format: "minionize-execo-claims", version: 1 }),
);

/** Longest time a finished param waits to be synced to disk, in ms. */
const SYNC_INTERVAL_MS = 1000;

interface Pending {
  // deno-lint-ignore no-explicit-any
  work: (tx: Transaction) => any;
  options: TransactOptions;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Moves a directory to minionize's format under execo's locks (see `execo_convert.ts`). */
export type Converter = (
  store: ExecoStore,
  options: StoreOptions,
) => Promise<void>;

let converter: Converter | undefined;

/** Registers how an interrupted conversion is finished (avoids an import cycle). */
export function setConverter(convert: Converter): void {
  converter = convert;
}

/** A sweep in execo's files, opened by one process. */
export class ExecoStore {
  /** The sweep's directory. */
  readonly dir: string;
  /** How the filesystem is used. */
  readonly profile: FsProfile;
  #options: StoreOptions;
  #mirror: ExecoMirror;
  #done: SharedFile;
  #inProgress: SharedFile;
  #claims: SharedFile;
  #delegate: SweepStore | undefined;
  #pending: Pending[] = [];
  #running = false;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #unsynced = false;
  #lastSync = 0;
  #closed = false;

  private constructor(
    dir: string,
    profile: FsProfile,
    mirror: ExecoMirror,
    files: SharedFile[],
    options: StoreOptions,
  ) {
    this.dir = dir;
    this.profile = profile;
    this.#mirror = mirror;
    [this.#done, this.#inProgress, this.#claims] = files as [
      SharedFile,
      SharedFile,
      SharedFile,
    ];
    this.#options = options;
  }

  /**
   * Opens the execo sweep in `dir` for reading and writing: reads `sweeps`
   * under its lock, creates `done`, `inprogress` and `minionize.claims` if
   * missing, and catches up with them.
   *
   * @throws {SweepError} when a file does not read, locks cannot be taken,
   * or FFI is not allowed (`permission`)
   */
  static async open(
    dir: string,
    options: StoreOptions = {},
  ): Promise<ExecoStore> {
    await checkDirectory(dir);
    const profile = fsProfile(dir, options.env);
    let mirror: ExecoMirror;
    try {
      mirror = ExecoMirror.fromSweeps(await readSweeps(dir));
    } catch (error) {
      throw explainFile(dir, error);
    }
    const files: SharedFile[] = [];
    try {
      for (const name of [EXECO_DONE, EXECO_IN_PROGRESS, CLAIMS]) {
        files.push(openShared(path(dir, name), { write: true, create: true }));
      }
    } catch (error) {
      files.forEach(releaseShared);
      throw new SweepError(
        "io",
        `cannot open ${dir}'s execo files for writing: ${
          (error as Error).message
        }`,
        {
          cause: error,
        },
      );
    }
    const store = new ExecoStore(dir, profile, mirror, files, options);
    try {
      await store.transact(() => {});
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  }

  /** The state as of the last transaction. */
  get state(): SweepState {
    return this.#delegate?.state ?? this.#mirror.state;
  }

  /** The mirror of execo's files (for the conversion). */
  get mirror(): ExecoMirror {
    return this.#mirror;
  }

  /** Whether this store goes on in minionize's own format now. */
  get converted(): boolean {
    return this.#delegate !== undefined;
  }

  /**
   * Runs `work` under execo's locks with the state caught up, then writes
   * what it appended, as `SweepStore.transact` does.
   *
   * @throws {SweepError} when a file does not read or cannot be written, or
   * a change cannot be made in execo's files (adding params, resetting
   * failed ones: move the sweep first with `minionize sweep convert`)
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
        const batch = this.#pending.splice(0);
        try {
          await this.#runBatch(batch);
        } catch (error) {
          for (const one of batch) one.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    if (this.#delegate) return this.#forward(batch);
    const live = allAborted(batch.map((one) => one.options.signal));
    const started = performance.now();
    let unlock;
    try {
      unlock = await lockShared(
        [this.#done, this.#inProgress],
        this.dir,
        live.signal,
      );
    } finally {
      live.dispose();
    }
    if (!unlock) {
      for (const one of batch) one.resolve(undefined);
      return;
    }
    this.#options.onLockWait?.(performance.now() - started);
    let outcomes: ({ value: unknown } | { error: unknown } | undefined)[] = [];
    let wrote = false;
    try {
      if (this.#catchUp()) {
        await this.#convertedMeanwhile();
      } else {
        ({ outcomes, wrote } = this.#run(batch));
      }
    } catch (error) {
      this.#stale = true;
      throw this.#explain(error);
    } finally {
      unlock(() => closeFresh(this.#fresh));
    }
    if (this.#delegate) return this.#forward(batch);
    if (
      wrote && batch.some((one) => one.options.sync) &&
      !this.profile.syncEachWrite
    ) this.#syncSoon();
    this.#pending.unshift(...batch.slice(outcomes.length));
    outcomes.forEach((outcome, index) => {
      const one = batch[index]!;
      if (outcome && "error" in outcome) one.reject(outcome.error);
      else one.resolve(outcome?.value);
    });
  }

  #stale = false;

  /**
   * Runs `work` under execo's locks, caught up with the files, for changes
   * that are not records (the conversion).
   *
   * @throws {SweepError} (`exists`) when the sweep was moved to
   * minionize's format meanwhile
   */
  async underLock<T>(work: () => Promise<T>): Promise<T> {
    const unlock = await lockShared([this.#done, this.#inProgress], this.dir);
    try {
      if (this.#catchUp()) {
        throw new SweepError(
          "exists",
          `${this.dir} is in minionize's format already`,
        );
      }
      return await work();
    } catch (error) {
      this.#stale = true;
      throw this.#explain(error);
    } finally {
      unlock?.(() => closeFresh(this.#fresh));
    }
  }

  /** Hands transactions to the store of minionize's format. */
  #forward(batch: Pending[]): void {
    for (const one of batch) {
      this.#delegate!.transact(one.work, one.options).then(
        one.resolve,
        one.reject,
      );
    }
  }

  /** Under the locks: the sweep was moved; finish that if a crash cut it short, then go on in it. */
  async #convertedMeanwhile(): Promise<void> {
    try {
      Deno.statSync(path(this.dir, LOG));
    } catch {
      if (!converter) {
        throw new SweepError(
          "corrupt",
          `${this.dir} was being moved to minionize's format`,
        );
      }
      await converter(this, this.#options);
    }
    const { onLockWait: _, ...options } = this.#options;
    this.#delegate = await SweepStore.open(this.dir, options);
  }

  /**
   * Under the locks: reads what others wrote since the last transaction.
   *
   * @returns whether the sweep was moved to minionize's format meanwhile
   */
  #catchUp(): boolean {
    if (this.#stale) this.#reload();
    const mirror = this.#mirror;
    // minionize.claims: void a record a crash tore, as the journal does.
    const claims = this.#read(this.#claims, mirror.claimsOffset).bytes;
    const scan = scanRecords(claims, mirror.claimsOffset);
    if (scan.validAfterInvalid) {
      throw new SweepError(
        "corrupt",
        `${path(this.dir, CLAIMS)} is damaged at byte ${
          mirror.claimsOffset + scan.consumed
        }; restore it from a copy, or remove it if no minion of minionize runs there (their claims are forgotten)`,
      );
    }
    mirror.applyClaims(scan.records);
    mirror.claimsOffset += scan.consumed;
    if (scan.invalidAt !== undefined) {
      const torn = claims.subarray(scan.consumed);
      const skip = skipRecord(torn, mirror.claimsOffset);
      this.#write(this.#claims, skip, mirror.claimsOffset + torn.length);
      mirror.claimsOffset += torn.length + skip.length;
      this.#options.onRepair?.(torn.length);
    }
    // done: a pickle cut short under the lock was torn by a crash; execo
    // cuts it off at its next step, and so does minionize.
    const done = this.#read(this.#done, mirror.doneOffset);
    if (done.size < mirror.doneOffset) {
      this.#reload();
      return this.#catchUp();
    }
    const torn = mirror.applyDone(done.bytes);
    if (torn > 0) ftruncateSync(this.#done.fd, mirror.doneOffset);
    return mirror.applyInProgress(this.readInProgress(), Date.now());
  }

  /** A descriptor of `inprogress` as read in this lock hold (local disks). */
  #inProgressFd: number | undefined;

  /**
   * Reads `inprogress` under the locks, through a descriptor opened now by
   * its path: the file may have been replaced since (see
   * {@linkcode writeInProgress}), and on a shared filesystem past the
   * client's cache.
   */
  readInProgress(): Uint8Array {
    const read = readFresh(path(this.dir, EXECO_IN_PROGRESS), 0, {
      dropCache: this.profile.shared,
      write: !this.profile.shared,
    });
    this.#fresh.push(read.fd);
    this.#inProgressFd = read.fd;
    return read.bytes;
  }

  /**
   * Writes `inprogress` whole, under the locks, after
   * {@linkcode readInProgress}.
   *
   * On a shared filesystem it writes a new file and renames it over
   * `inprogress`. A GlusterFS client (measured) keeps serving old bytes of
   * a file rewritten in place at the same size, even to a process that
   * opens it anew, until it sees its size change; and a set of params in
   * progress often keeps its size (a param finished and the next one taken
   * in one write). A Python minion on another host then read our `inprogress`
   * without a claim we had just written, took that param again, or wrote
   * its stale set back, so that our claim vanished and another minion took
   * the param (one param of 60 ran twice in 3 runs of 30, measured). A new
   * file is one no client has cached: Python opens `inprogress` by its
   * path at every step, and only once it holds the lock on `done`, which
   * this process holds until it has renamed. (execo's lock on `inprogress`
   * is always taken under the one on `done`, by execo and here: the lock on
   * `done` is what excludes; the one this process keeps on its first
   * `inprogress` file stays for execo's rules.)
   *
   * On a local disk it writes over the file in place and cuts it after: a
   * crash between the two leaves the new set followed by old bytes, which
   * readers ignore.
   *
   * @throws {SweepError} when it cannot be written
   */
  writeInProgress(bytes: Uint8Array): void {
    const file = path(this.dir, EXECO_IN_PROGRESS);
    if (this.profile.shared) {
      replaceFile(file, bytes, this.profile.syncEachWrite);
    } else {
      const fd = this.#inProgressFd!;
      this.#writeAt(file, fd, bytes, 0);
      const before = this.#mirror.inProgressBytes?.length ?? Infinity;
      if (bytes.length < before) ftruncateSync(fd, bytes.length);
    }
    this.#mirror.inProgressBytes = bytes;
  }

  /** Descriptors opened for reads under the lock, closed once it is let go. */
  #fresh: number[] = [];

  /**
   * Reads a file from `offset` on, under the lock: on a shared filesystem
   * through a descriptor opened now (see `readFresh`), as Python execo
   * opens its files at every step.
   */
  #read(file: SharedFile, offset: number): { bytes: Uint8Array; size: number } {
    if (!this.profile.shared) {
      return { bytes: readShared(file, offset), size: sizeShared(file) };
    }
    const read = readFresh(file.path, offset);
    this.#fresh.push(read.fd);
    return read;
  }

  /** Starts again from the files (after `done` shrank, or a failed write). */
  #reload(): void {
    this.#stale = false;
    const sweeps = openSweepsFile(this.dir);
    try {
      this.#mirror = ExecoMirror.fromSweeps(readShared(sweeps));
    } finally {
      releaseShared(sweeps);
    }
  }

  /** Runs the batch's work and writes what it appended, under the locks. */
  #run(batch: Pending[]): {
    outcomes: ({ value: unknown } | { error: unknown } | undefined)[];
    wrote: boolean;
  } {
    const mirror = this.#mirror;
    const { state } = mirror;
    const early: Uint8Array[] = [];
    const late: Uint8Array[] = [];
    const finished: Uint8Array[] = [];
    let inProgressChanged = false;
    const record = (type: string, id: number, body: Record<string, unknown>) =>
      encodeRecord(type, 0, JSON.stringify({ ...body, t: state.texts[id] }));
    const outcomes: ({ value: unknown } | { error: unknown } | undefined)[] =
      [];
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
              inProgressChanged ||= type === "c";
              break;
            case "r":
            case "n":
              late.push(record(type, id, fields));
              inProgressChanged = true;
              break;
            case "d":
            case "f":
              if (before === DONE || before === FAILED) break;
              finished.push(writePickle(mirror.pyValue(id)));
              if (type === "f") late.push(record(type, id, fields));
              inProgressChanged ||= before === CLAIMED;
              break;
            case "s":
              if (before === FAILED || fields.st !== TODO) {
                throw unsupported(this.dir, "put failed params back to todo");
              }
              if (before === CLAIMED) {
                const owner = state.claims.get(id)?.owner;
                late.push(record("r", id, { o: owner }));
                inProgressChanged = true;
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
              throw unsupported(this.dir, "add params");
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
    const wrote = early.length + finished.length + late.length > 0 ||
      inProgressChanged;
    try {
      if (early.length > 0) this.#appendClaims(early);
      if (finished.length > 0) {
        const bytes = concat(
          finished,
          finished.reduce((n, b) => n + b.length, 0),
        );
        this.#write(this.#done, bytes, mirror.doneOffset);
        mirror.doneOffset += bytes.length;
      }
      if (inProgressChanged) {
        const bytes = writePickle({
          kind: "set",
          items: mirror.inProgressValues(),
        });
        this.writeInProgress(bytes);
      }
      if (late.length > 0) this.#appendClaims(late);
      if (wrote && this.profile.syncEachWrite) {
        for (const file of [this.#claims, this.#done]) {
          fsyncSync(file.fd);
        }
      }
    } catch (error) {
      this.#stale = true;
      throw error;
    }
    return { outcomes, wrote };
  }

  #appendClaims(records: Uint8Array[]): void {
    const mirror = this.#mirror;
    if (mirror.claimsOffset === 0) records.unshift(CLAIMS_HEADER);
    const bytes = concat(records, records.reduce((n, b) => n + b.length, 0));
    this.#write(this.#claims, bytes, mirror.claimsOffset);
    mirror.claimsOffset += bytes.length;
  }

  #write(file: SharedFile, bytes: Uint8Array, at: number): void {
    this.#writeAt(file.path, file.fd, bytes, at);
  }

  #writeAt(file: string, fd: number, bytes: Uint8Array, at: number): void {
    try {
      writeAllAt(fd, bytes, at);
    } catch (error) {
      throw writeError(file, error);
    }
  }

  /** Syncs `done` and `minionize.claims` at most once a second (a power cut's loss). */
  #syncSoon(): void {
    this.#unsynced = true;
    if (this.#syncTimer !== undefined) return;
    const wait = Math.max(0, this.#lastSync + SYNC_INTERVAL_MS - Date.now());
    this.#syncTimer = setTimeout(() => this.#syncNow(), wait);
    Deno.unrefTimer(this.#syncTimer);
  }

  #syncNow(): void {
    this.#syncTimer = undefined;
    if (!this.#unsynced || this.#closed) return;
    this.#unsynced = false;
    this.#lastSync = Date.now();
    try {
      fsyncSync(this.#done.fd);
      fsyncSync(this.#claims.fd);
    } catch {
      // the next write says what is wrong
    }
  }

  #explain(error: unknown): unknown {
    return explainFile(this.dir, error);
  }

  /** Syncs what is not synced yet and lets go of the files. */
  close(): void {
    if (this.#closed) return;
    clearTimeout(this.#syncTimer);
    if (this.#unsynced) this.#syncNow();
    this.#closed = true;
    this.#delegate?.close();
    for (const file of [this.#done, this.#inProgress, this.#claims]) {
      releaseShared(file);
    }
  }
}

/** An execo file that does not read, as a sweep error. */
export function explainFile(dir: string, error: unknown): unknown {
  if (error instanceof ExecoFileError) {
    return new SweepError(
      "corrupt",
      `cannot read the execo sweep: ${path(dir, error.file)}: ${error.message}`,
      { cause: error },
    );
  }
  return error;
}

function unsupported(dir: string, what: string): SweepError {
  return new SweepError(
    "unsupported",
    `cannot ${what} in ${dir} while it holds Python execo's files (Python minions would not see it); move it to minionize's format first with 'minionize sweep convert' once no Python minion runs there`,
  );
}

/** `sweeps`, opened for this process. */
function openSweepsFile(dir: string): SharedFile {
  return openShared(path(dir, EXECO_SWEEPS), { write: false });
}

/**
 * Reads `sweeps` under execo's lock on it (Python holds that lock while it
 * writes the file), or without a lock where the file cannot be written.
 */
async function readSweeps(dir: string): Promise<Uint8Array> {
  let file: SharedFile;
  try {
    file = openShared(path(dir, EXECO_SWEEPS), { write: true });
  } catch {
    const readOnly = openSweepsFile(dir);
    try {
      return readShared(readOnly);
    } finally {
      releaseShared(readOnly);
    }
  }
  try {
    const unlock = await lockShared([file], dir);
    try {
      return readShared(file);
    } finally {
      unlock?.();
    }
  } finally {
    releaseShared(file);
  }
}

/** Writes all of `bytes` at `at`. */
function writeAllAt(fd: number, bytes: Uint8Array, at: number): void {
  let written = 0;
  while (written < bytes.length) {
    written += writeSync(
      fd,
      bytes,
      written,
      bytes.length - written,
      at + written,
    );
  }
}

/**
 * Writes `bytes` to a new file beside `file` (synced if `sync`) and renames
 * it over `file`: readers see the old file or the new one, whole.
 *
 * @throws {SweepError} when it cannot be written (`full` when out of space)
 */
function replaceFile(file: string, bytes: Uint8Array, sync: boolean): void {
  const temporary = `${file}.tmp${crypto.randomUUID().slice(0, 8)}`;
  try {
    const fd = openSync(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
      0o666,
    );
    try {
      writeAllAt(fd, bytes, 0);
      if (sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // never made, or renamed already
    }
    throw writeError(file, error);
  }
}
