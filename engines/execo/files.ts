/**
 * The files of a sweep directory and what can be wrong with them: names,
 * whole writes, files written under a temporary name, and the error type.
 *
 * A sweep (format 2) is:
 *
 * - `minionize.log`: the journal, appended to and never cut or rewritten;
 *   it is also what minions lock.
 * - `minionize.index.G`: snapshot G, which says up to which byte of the
 *   journal it covers, lists the shard files that hold the params, and
 *   holds every claim.
 * - `minionize.shard.G.K`: the params of shard K as snapshot G wrote them;
 *   later snapshots reuse the file while nothing changes in the shard.
 * - `minionize.lock`: a symbolic link present only while a minion on a
 *   shared filesystem writes (see `lock.ts`).
 *
 * @module
 */

import { encodeRecord } from "./log.ts";

/** The journal's file name in a sweep directory. */
export const LOG = "minionize.log";
/** Snapshot indexes are this prefix and their generation. */
export const INDEX_PREFIX = "minionize.index.";
/** Shard files are this prefix, the generation that wrote them and a number. */
export const SHARD_PREFIX = "minionize.shard.";
/** The mark whose creation excludes writers on shared filesystems. */
export const LOCK_MARK = "minionize.lock";
/** The journal of the first format, replaced by {@linkcode LOG}. */
export const OLD_JOURNAL = "minionize.journal";
/** Snapshots of the first format. */
export const OLD_SNAPSHOT_PREFIX = "minionize.snapshot.";

/** The body of the journal's first record. */
export const LOG_HEADER_BODY: string = JSON.stringify({
  format: "minionize-sweep",
  version: 2,
});
/** The journal's first record. */
export const logHeader = (): Uint8Array =>
  encodeRecord("h", 0, LOG_HEADER_BODY);
/** Bytes in the journal's first record. */
export const LOG_HEADER_LENGTH: number = logHeader().length;

/** Why a directory cannot be used as a sweep. */
export type SweepProblem =
  | "missing"
  | "not-a-sweep"
  | "corrupt"
  | "io"
  | "exists"
  | "full"
  | "permission"
  | "unsupported";

/** A sweep directory that cannot be opened or is damaged. */
export class SweepError extends Error {
  /** What is wrong. */
  readonly problem: SweepProblem;

  /**
   * Makes the error.
   *
   * @param problem what is wrong
   * @param message what failed and what to do
   * @param options the underlying error, if any
   */
  constructor(problem: SweepProblem, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SweepError";
    this.problem = problem;
  }
}

/** `dir/name`. */
export const path = (dir: string, name: string): string => `${dir}/${name}`;

/** Writes all of `bytes` at the file's position. */
export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/** Joins chunks of bytes. */
export function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Whether `error` says the filesystem is full (or over quota). */
export function isFull(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "ENOSPC" || code === "EDQUOT" ||
    /No space left|quota exceeded/i.test(String((error as Error).message));
}

/** The error for a write to `file` that failed, naming the fix. */
export function writeError(file: string, error: unknown): SweepError {
  if (isFull(error)) {
    return new SweepError(
      "full",
      `cannot write ${file}: the filesystem is full or over quota; free some space there (nothing was lost: what was written before stays)`,
      { cause: error },
    );
  }
  return new SweepError(
    "io",
    `cannot write ${file}: ${(error as Error).message}`,
    { cause: error },
  );
}

/**
 * Writes a file whole under a temporary name, syncs it and renames it to
 * `file`, so that a reader sees all of it or nothing. A failed write leaves
 * no temporary file behind.
 *
 * @returns the number of bytes written
 * @throws {SweepError} when it cannot be written (`full` when out of space)
 */
export function writeFileAtomically(
  file: string,
  write: (push: (bytes: Uint8Array) => void) => void,
): number {
  const temporary = `${file}.tmp${crypto.randomUUID().slice(0, 8)}`;
  let total = 0;
  try {
    const handle = Deno.openSync(temporary, { write: true, createNew: true });
    try {
      const chunks: Uint8Array[] = [];
      let length = 0;
      const flush = () => {
        writeAll(handle, concat(chunks, length));
        total += length;
        chunks.length = 0;
        length = 0;
      };
      write((bytes) => {
        chunks.push(bytes);
        length += bytes.length;
        if (length >= 1 << 20) flush();
      });
      flush();
      handle.syncSync();
    } finally {
      handle.close();
    }
    Deno.renameSync(temporary, file);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // never made, or renamed already
    }
    throw error instanceof SweepError ? error : writeError(file, error);
  }
  return total;
}

/** Syncs a directory's entries (a rename), where the system allows it. */
export function syncDirectory(dir: string): void {
  try {
    const handle = Deno.openSync(dir, { read: true });
    try {
      handle.syncSync();
    } finally {
      handle.close();
    }
  } catch {
    // not every system lets a directory be synced; the rename still stands
  }
}

/** Whether `file` exists. */
export function exists(file: string): boolean {
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that `dir` is a directory.
 *
 * @throws {SweepError} (`missing`) when it is not
 */
export async function checkDirectory(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    throw new SweepError(
      "missing",
      error instanceof Deno.errors.NotFound
        ? `${dir} does not exist`
        : `cannot reach ${dir} (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (!info.isDirectory) {
    throw new SweepError("missing", `${dir} is not a directory`);
  }
}
