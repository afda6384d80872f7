/**
 * POSIX record locks (`lockf`/`fcntl`), the locks Python execo takes on its
 * files with `fcntl.lockf`. Deno's `FsFile.lock` is `flock`, which does
 * not exclude them, so these are taken through libc (`Deno.dlopen`, hence
 * `--allow-ffi`) on descriptors of real files opened with `node:fs`.
 *
 * Two rules of POSIX locks shape this file:
 *
 * - a lock belongs to the process, not to a descriptor: a second lock call
 *   of the same process succeeds at once. So lockers of one process also
 *   queue behind each other here, file by file;
 * - closing ANY descriptor of a file drops every lock the process holds on
 *   it. So each file is opened once per process, here, and its descriptor
 *   is closed only when nobody in the process uses it any more; everything
 *   that reads execo's files in this process reads through these
 *   descriptors.
 *
 * @module
 */

import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  statSync,
} from "node:fs";
import { basename, dirname } from "node:path";
import {
  BUSY,
  EINTR,
  F_LOCK,
  F_TLOCK,
  F_ULOCK,
  type Libc,
  libc,
  loadedLibc,
} from "./_libc.ts";
import { delay } from "../../core/async.ts";
import { SweepError } from "./files.ts";

/** One of execo's files, opened once in this process. */
export interface SharedFile {
  /** The path it was opened by. */
  readonly path: string;
  /** Its descriptor (a real one: `node:fs`). */
  readonly fd: number;
  /** Whether it was opened for writing. */
  readonly writable: boolean;
}

interface Entry extends SharedFile {
  key: string;
  refs: number;
  locked: boolean;
  /** Lockers of this process, queued. */
  queue: Promise<void>;
}

const open = new Map<string, Entry[]>();

/** The file's key: its real directory and its name. */
function keyOf(path: string): string {
  try {
    return `${Deno.realPathSync(dirname(path))}/${basename(path)}`;
  } catch {
    return path;
  }
}

/**
 * Opens `path` for this process, or shares the descriptor already open.
 * A read-only opening of a missing file throws `NotFound` (node's ENOENT).
 *
 * @throws {Error} as `node:fs` `openSync`
 */
export function openShared(
  path: string,
  options: { write: boolean; create?: boolean },
): SharedFile {
  const key = keyOf(path);
  const entries = open.get(key) ?? [];
  const fit = entries.find((entry) => entry.writable || !options.write);
  if (fit) {
    fit.refs++;
    return fit;
  }
  // Never O_APPEND: every read and write here says where it goes, and
  // lockf's range starts at the offset, which stays 0.
  const fd = openSync(
    path,
    options.write
      ? constants.O_RDWR | (options.create ? constants.O_CREAT : 0)
      : constants.O_RDONLY,
    0o666,
  );
  const entry: Entry = {
    path,
    fd,
    writable: options.write,
    key,
    refs: 1,
    locked: false,
    queue: Promise.resolve(),
  };
  entries.push(entry);
  open.set(key, entries);
  return entry;
}

/** Gives back a file; its descriptor closes once nobody in the process uses it. */
export function releaseShared(file: SharedFile): void {
  const entry = file as Entry;
  entry.refs--;
  const entries = open.get(entry.key) ?? [];
  if (entries.some((one) => one.refs > 0 || one.locked)) return;
  for (const one of entries) closeSync(one.fd);
  open.delete(entry.key);
}

/**
 * The size of a shared file (through libc when it is loaded: node's
 * `fstatSync` costs ten times more).
 */
export function sizeShared(file: SharedFile): number {
  const loaded = loadedLibc();
  if (loaded) {
    const size = loaded.size(file.fd);
    if (size >= 0) return size;
  }
  return fstatSync(file.fd).size;
}

/** Reads all of a shared file from `offset` on. */
export function readShared(file: SharedFile, offset = 0): Uint8Array {
  const size = sizeShared(file);
  if (size <= offset) return new Uint8Array();
  const out = new Uint8Array(size - offset);
  let at = 0;
  while (at < out.length) {
    const n = readSync(file.fd, out, at, out.length - at, offset + at);
    if (n === 0) break;
    at += n;
  }
  return at === out.length ? out : out.subarray(0, at);
}

/**
 * Reads all of the file at `path` as it is now, without a lock, and
 * without closing a descriptor of a file this process may hold a lock on:
 * through this process's descriptor of it while that still is the file at
 * `path`, else (another process replaced it since) through one opened now.
 *
 * @returns its bytes, or undefined when there is no such file
 * @throws {Error} as `node:fs` `openSync`
 */
export function readCurrent(path: string): Uint8Array | undefined {
  let file: SharedFile;
  try {
    file = openShared(path, { write: false });
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const held = fstatSync(file.fd);
    const now = statSync(path, { throwIfNoEntry: false });
    if (!now || (now.ino === held.ino && now.dev === held.dev)) {
      return readShared(file);
    }
  } finally {
    releaseShared(file);
  }
  // Replaced: this process holds no lock on the new file.
  let read;
  try {
    read = readFresh(path, 0, { dropCache: false });
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  }
  closeFresh([read.fd]);
  return read.bytes;
}

/** How {@linkcode readFresh} opens and reads. */
export interface ReadFreshOptions {
  /**
   * Drop what this host's kernel cached of the file first, so that the
   * read goes to the server (for shared filesystems). @default {true}
   */
  dropCache?: boolean;
  /** Open for writing too, creating the file if missing. @default {false} */
  write?: boolean;
}

/**
 * Reads `path` from `offset` to its end through a descriptor of its own,
 * opened now: the file at that path now, even if another process replaced
 * it since a descriptor was kept open, and past what this host's kernel
 * cached of it. A client of a shared filesystem may serve pages of a file
 * that another host has since changed: a GlusterFS FUSE client (measured)
 * drops its cached pages when it sees the file's size change, but not on
 * open, so a file rewritten in place at the same size (as execo rewrites
 * `inprogress`) read back old bytes 9 times in 10, through a fresh
 * descriptor too. So the cached pages are dropped first (`posix_fadvise`).
 * The descriptor must stay open while this process holds a lock on the
 * file (a close would drop it): pass it to `closeFresh` once the lock is
 * let go.
 *
 * @throws {Error} as `node:fs` `openSync`
 */
export function readFresh(
  path: string,
  offset: number,
  options: ReadFreshOptions = {},
): { bytes: Uint8Array; size: number; fd: number } {
  const fd = openSync(
    path,
    options.write ? constants.O_RDWR | constants.O_CREAT : constants.O_RDONLY,
    0o666,
  );
  if (options.dropCache ?? true) loadedLibc()?.dropCache(fd);
  const size = fstatSync(fd).size;
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (let at = offset;;) {
    const chunk = new Uint8Array(Math.max(64 * 1024, size - at));
    const n = readSync(fd, chunk, 0, chunk.length, at);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    length += n;
    at += n;
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return { bytes, size: Math.max(size, offset + length), fd };
}

/** Closes descriptors of {@linkcode readFresh}, once no lock is held. */
export function closeFresh(fds: number[]): void {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
  }
}

/**
 * Takes the POSIX write locks of `files`, in order (execo's order: `done`
 * then `inprogress`), waiting in the kernel's queue as Python does. Other
 * lockers of this process wait for their turn first.
 *
 * @returns a function that lets go of them all (then runs `after`, before
 * the next locker of this process goes), or undefined when `signal` aborted
 * first
 * @throws {SweepError} when locks cannot be taken on this filesystem, or
 * FFI is not allowed
 */
export async function lockShared(
  files: SharedFile[],
  what: string,
  signal?: AbortSignal,
): Promise<((after?: () => void) => void) | undefined> {
  const lib = libc(what);
  const entries = files as Entry[];
  const first = entries[0]!;
  // Queue behind this process's other lockers of the same files.
  const previous = first.queue;
  let letGo!: () => void;
  first.queue = new Promise<void>((resolve) => letGo = resolve);
  await previous;
  const taken: Entry[] = [];
  const release = (after?: () => void) => {
    for (const entry of taken.reverse()) {
      lib.lockf(entry.fd, F_ULOCK);
      entry.locked = false;
    }
    try {
      after?.();
    } finally {
      letGo();
    }
  };
  try {
    for (const entry of entries) {
      if (signal?.aborted) {
        release();
        return undefined;
      }
      await lockOne(lib, entry, what);
      entry.locked = true;
      taken.push(entry);
    }
  } catch (error) {
    release();
    throw error;
  }
  if (signal?.aborted) {
    release();
    return undefined;
  }
  return release;
}

async function lockOne(lib: Libc, entry: Entry, what: string): Promise<void> {
  for (;;) {
    if (lib.lockf(entry.fd, F_TLOCK) === 0) return;
    const errno = lib.errno();
    if (errno === EINTR) continue;
    if (errno !== 0 && !BUSY.has(errno)) {
      throw new SweepError(
        "io",
        `cannot take the POSIX lock on ${entry.path} (errno ${errno}), which Python execo's minions take too; ${what} must be on a filesystem with working fcntl locks (NFS needs its lock daemon: no 'nolock')`,
      );
    }
    // Held by another process: wait in the kernel's queue, off this thread.
    if (await lib.lockfWait(entry.fd, F_LOCK) === 0) return;
    await delay(2); // interrupted: try again
  }
}
