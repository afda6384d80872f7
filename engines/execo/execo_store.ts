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

import { ftruncateSync } from "node:fs";
import { planBatch, writes } from "./_execo_batch.ts";
import { ExecoFiles, openSweepsFile, readSweeps } from "./_execo_files.ts";
import { checkDirectory, concat, LOG, path, SweepError } from "./files.ts";
import { type FsProfile, fsProfile } from "./fs_profile.ts";
import { allAborted } from "./lock.ts";
import { scanRecords, skipRecord } from "./log.ts";
import { CLAIMS, ExecoFileError, ExecoMirror } from "./execo_mirror.ts";
import { writePickle } from "./pickle_write.ts";
import { lockShared, readShared, releaseShared } from "./posix_lock.ts";
import type { SweepState } from "./state.ts";
import type { StoreOptions } from "./store.ts";
import { SweepStore } from "./store.ts";
import { SyncPacer } from "./sync_pacer.ts";
import {
  type Outcome,
  type Pending,
  type Transaction,
  TransactionQueue,
  type TransactOptions,
} from "./transaction.ts";

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
  #files: ExecoFiles;
  #delegate: SweepStore | undefined;
  #queue = new TransactionQueue((batch) => this.#runBatch(batch));
  #sync: SyncPacer;
  #stale = false;
  #closed = false;

  private constructor(
    dir: string,
    profile: FsProfile,
    mirror: ExecoMirror,
    files: ExecoFiles,
    options: StoreOptions,
  ) {
    this.dir = dir;
    this.profile = profile;
    this.#mirror = mirror;
    this.#files = files;
    this.#options = options;
    // Finished params are synced at most once a second (a power cut's loss).
    this.#sync = new SyncPacer({
      sync: () => files.sync(),
      syncSync: () => files.sync(),
    });
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
    const files = ExecoFiles.open(dir, profile);
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
    return this.#queue.transact(work, options);
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    if (this.#delegate) return this.#forward(batch);
    const files = this.#files;
    const live = allAborted(batch.map((one) => one.options.signal));
    const started = performance.now();
    let unlock;
    try {
      unlock = await lockShared(
        [files.done, files.inProgress],
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
    let outcomes: Outcome[] = [];
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
      unlock(() => files.closeFresh());
    }
    if (this.#delegate) return this.#forward(batch);
    if (
      wrote && batch.some((one) => one.options.sync) &&
      !this.profile.syncEachWrite
    ) void this.#sync.soon();
    this.#queue.settle(batch, outcomes);
  }

  /**
   * Runs `work` under execo's locks, caught up with the files, for changes
   * that are not records (the conversion).
   *
   * @throws {SweepError} (`exists`) when the sweep was moved to
   * minionize's format meanwhile
   */
  async underLock<T>(work: () => Promise<T>): Promise<T> {
    const files = this.#files;
    const unlock = await lockShared([files.done, files.inProgress], this.dir);
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
      unlock?.(() => files.closeFresh());
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
    const claims =
      this.#files.read(this.#files.claims, mirror.claimsOffset).bytes;
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
      this.#files.write(
        this.#files.claims,
        skip,
        mirror.claimsOffset + torn.length,
      );
      mirror.claimsOffset += torn.length + skip.length;
      this.#options.onRepair?.(torn.length);
    }
    // done: a pickle cut short under the lock was torn by a crash; execo
    // cuts it off at its next step, and so does minionize.
    const done = this.#files.read(this.#files.done, mirror.doneOffset);
    if (done.size < mirror.doneOffset) {
      this.#reload();
      return this.#catchUp();
    }
    const torn = mirror.applyDone(done.bytes);
    if (torn > 0) ftruncateSync(this.#files.done.fd, mirror.doneOffset);
    return mirror.applyInProgress(this.readInProgress(), Date.now());
  }

  /**
   * Reads `inprogress` under the locks, through a descriptor opened now by
   * its path (see `ExecoFiles.readInProgress`).
   */
  readInProgress(): Uint8Array {
    return this.#files.readInProgress();
  }

  /**
   * Writes `inprogress` whole under the locks, after
   * {@linkcode readInProgress} (on a shared filesystem, as a new file
   * renamed over it: see `ExecoFiles.writeInProgress`).
   *
   * @throws {SweepError} when it cannot be written
   */
  writeInProgress(bytes: Uint8Array): void {
    this.#files.writeInProgress(
      bytes,
      this.#mirror.inProgressBytes?.length ?? Infinity,
    );
    this.#mirror.inProgressBytes = bytes;
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
  #run(batch: Pending[]): { outcomes: Outcome[]; wrote: boolean } {
    const mirror = this.#mirror;
    const files = this.#files;
    const plan = planBatch(mirror, batch, this.dir);
    const wrote = writes(plan);
    try {
      if (plan.early.length > 0) this.#appendClaims(plan.early);
      const { finished } = plan;
      if (finished.length > 0) {
        const bytes = concat(
          finished,
          finished.reduce((n, b) => n + b.length, 0),
        );
        files.write(files.done, bytes, mirror.doneOffset);
        mirror.doneOffset += bytes.length;
      }
      if (plan.inProgressChanged) {
        this.writeInProgress(
          writePickle({ kind: "set", items: mirror.inProgressValues() }),
        );
      }
      if (plan.late.length > 0) this.#appendClaims(plan.late);
      if (wrote && this.profile.syncEachWrite) files.sync();
    } catch (error) {
      this.#stale = true;
      throw error;
    }
    return { outcomes: plan.outcomes, wrote };
  }

  #appendClaims(records: Uint8Array[]): void {
    const mirror = this.#mirror;
    mirror.claimsOffset += this.#files.appendClaims(
      records,
      mirror.claimsOffset,
    );
  }

  #explain(error: unknown): unknown {
    return explainFile(this.dir, error);
  }

  /** Syncs what is not synced yet and lets go of the files. */
  close(): void {
    if (this.#closed) return;
    this.#sync.close();
    this.#closed = true;
    this.#delegate?.close();
    this.#files.release();
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
