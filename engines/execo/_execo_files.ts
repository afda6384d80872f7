/**
 * The files of a sweep in execo's format as one process reads and writes
 * them under execo's locks (see `execo_store.ts`): `done`, `inprogress` and
 * `minionize.claims`, each opened once in the process (POSIX locks belong
 * to the process: see `posix_lock.ts`), read past the client's cache on a
 * shared filesystem, and `sweeps`, read under its own lock.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { concat, path, SweepError, writeError } from "./files.ts";
import type { FsProfile } from "./fs_profile.ts";
import {
  CLAIMS,
  EXECO_DONE,
  EXECO_IN_PROGRESS,
  EXECO_SWEEPS,
} from "./execo_mirror.ts";
import { encodeRecord } from "./log.ts";
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

/** The first record of `minionize.claims`. */
const CLAIMS_HEADER = encodeRecord(
  "h",
  0,
  JSON.stringify({ format: "minionize-execo-claims", version: 1 }),
);

/** `done`, `inprogress` and `minionize.claims`, opened by this process. */
export class ExecoFiles {
  /** execo's stream of params done. */
  readonly done: SharedFile;
  /** execo's set of params in progress, as first opened (for its lock). */
  readonly inProgress: SharedFile;
  /** minionize's claims beside them. */
  readonly claims: SharedFile;
  #dir: string;
  #profile: FsProfile;
  /** Descriptors opened for reads under the lock, closed once it is let go. */
  #fresh: number[] = [];
  /** A descriptor of `inprogress` as read in this lock hold (local disks). */
  #inProgressFd: number | undefined;
  /** The file that {@linkcode inProgress} is (device and inode). */
  #inProgressId: string;

  private constructor(dir: string, profile: FsProfile, files: SharedFile[]) {
    this.#dir = dir;
    this.#profile = profile;
    [this.done, this.inProgress, this.claims] = files as [
      SharedFile,
      SharedFile,
      SharedFile,
    ];
    const { dev, ino } = fstatSync(this.inProgress.fd);
    this.#inProgressId = `${dev}:${ino}`;
  }

  /**
   * Opens (creating them if missing) the files of the sweep in `dir`.
   *
   * @throws {SweepError} (`io`) when one cannot be opened for writing
   */
  static open(dir: string, profile: FsProfile): ExecoFiles {
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
    return new ExecoFiles(dir, profile, files);
  }

  /**
   * Reads a file from `offset` on, under the lock: on a shared filesystem
   * through a descriptor opened now (see `readFresh`), as Python execo
   * opens its files at every step.
   */
  read(file: SharedFile, offset: number): { bytes: Uint8Array; size: number } {
    if (!this.#profile.shared) {
      return { bytes: readShared(file, offset), size: sizeShared(file) };
    }
    const read = readFresh(file.path, offset);
    this.#fresh.push(read.fd);
    return read;
  }

  /**
   * Reads `inprogress` under the locks, as the file at its path is now: it
   * may have been replaced since (see {@linkcode writeInProgress}). On a
   * shared filesystem through a descriptor opened now, past the client's
   * cache; on a local disk through the descriptor kept open while it still
   * is that file.
   */
  readInProgress(): Uint8Array {
    const file = path(this.#dir, EXECO_IN_PROGRESS);
    if (!this.#profile.shared && this.#isFirstInProgress(file)) {
      this.#inProgressFd = this.inProgress.fd;
      return readShared(this.inProgress);
    }
    const read = readFresh(file, 0, {
      dropCache: this.#profile.shared,
      write: !this.#profile.shared,
    });
    this.#fresh.push(read.fd);
    this.#inProgressFd = read.fd;
    return read.bytes;
  }

  /** Whether `inprogress` is still the file first opened. */
  #isFirstInProgress(file: string): boolean {
    try {
      const { dev, ino } = Deno.statSync(file);
      return `${dev}:${ino}` === this.#inProgressId;
    } catch {
      return false; // removed: opened (and made) anew
    }
  }

  /**
   * Writes `inprogress` whole, under the locks, after
   * {@linkcode readInProgress}; `replacing` is the length of what it held.
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
  writeInProgress(bytes: Uint8Array, replacing: number): void {
    const file = path(this.#dir, EXECO_IN_PROGRESS);
    if (this.#profile.shared) {
      replaceFile(file, bytes, this.#profile.syncEachWrite);
    } else {
      const fd = this.#inProgressFd!;
      writeAt(file, fd, bytes, 0);
      if (bytes.length < replacing) ftruncateSync(fd, bytes.length);
    }
  }

  /**
   * Writes `bytes` at `at` in `file`.
   *
   * @throws {SweepError} when it cannot be written
   */
  write(file: SharedFile, bytes: Uint8Array, at: number): void {
    writeAt(file.path, file.fd, bytes, at);
  }

  /**
   * Appends `records` to `minionize.claims`, which holds `offset` bytes
   * (its header first when it holds none).
   *
   * @returns the bytes written
   * @throws {SweepError} when it cannot be written
   */
  appendClaims(records: Uint8Array[], offset: number): number {
    if (offset === 0) records.unshift(CLAIMS_HEADER);
    const bytes = concat(records, records.reduce((n, b) => n + b.length, 0));
    this.write(this.claims, bytes, offset);
    return bytes.length;
  }

  /** Syncs `done` and `minionize.claims` to disk. */
  sync(): void {
    fsyncSync(this.done.fd);
    fsyncSync(this.claims.fd);
  }

  /** Closes the descriptors opened under the lock, once it is let go. */
  closeFresh(): void {
    closeFresh(this.#fresh);
  }

  /** Lets go of the files. */
  release(): void {
    for (const file of [this.done, this.inProgress, this.claims]) {
      releaseShared(file);
    }
  }
}

/** Writes all of `bytes` at `at`, naming `file` when it fails. */
function writeAt(file: string, fd: number, bytes: Uint8Array, at: number) {
  try {
    writeAllAt(fd, bytes, at);
  } catch (error) {
    throw writeError(file, error);
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

/** `sweeps`, opened for this process. */
export function openSweepsFile(dir: string): SharedFile {
  return openShared(path(dir, EXECO_SWEEPS), { write: false });
}

/**
 * Reads `sweeps` under execo's lock on it (Python holds that lock while it
 * writes the file), or without a lock where the file cannot be written.
 */
export async function readSweeps(dir: string): Promise<Uint8Array> {
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
