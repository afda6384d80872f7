/**
 * The files of a sweep directory, and what can be wrong with them: names,
 * the journal's header, whole reads and writes, and opening the journal.
 *
 * @module
 */

import { encodeRecord, scanRecords } from "./log.ts";

/** The journal's file name in a sweep directory. */
export const JOURNAL = "minionize.journal";
/** Snapshot files are this prefix and their generation. */
export const SNAPSHOT_PREFIX = "minionize.snapshot.";

/** What follows the generation in a journal header: format and version. */
export const HEADER_BODY: string = JSON.stringify({
  format: "minionize-sweep",
  version: 1,
});
/** The journal header of `generation`: always the same length. */
export const headerRecord = (generation: number): Uint8Array =>
  encodeRecord("h", String(generation).padStart(12, "0"), HEADER_BODY);
/** Bytes in a journal header. */
export const HEADER_LENGTH: number = headerRecord(0).length;

/** Why a directory cannot be used as a sweep. */
export type SweepProblem =
  | "missing"
  | "not-a-sweep"
  | "corrupt"
  | "io"
  | "exists";

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

/** A read buffer kept between calls: most reads find a few records. */
let readBuffer = new Uint8Array(64 * 1024);

/** The bytes of `file` from `position` to its end (valid until the next call). */
export function readAll(file: Deno.FsFile, position: number): Uint8Array {
  if (readBuffer.length > 1 << 22) readBuffer = new Uint8Array(64 * 1024);
  file.seekSync(position, Deno.SeekMode.Start);
  let length = 0;
  while (true) {
    if (length === readBuffer.length) {
      const bigger = new Uint8Array(readBuffer.length * 2);
      bigger.set(readBuffer);
      readBuffer = bigger;
    }
    const read = file.readSync(readBuffer.subarray(length));
    if (read === null || read === 0) break;
    length += read;
  }
  return readBuffer.subarray(0, length);
}

/** Writes all of `bytes` at the file's position. */
export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/** Generations of the snapshots in `dir`, newest first. */
export function snapshotGenerations(dir: string): number[] {
  const generations: number[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.startsWith(SNAPSHOT_PREFIX)) continue;
    const rest = entry.name.slice(SNAPSHOT_PREFIX.length);
    if (/^[0-9]+$/.test(rest)) generations.push(Number(rest));
  }
  return generations.sort((a, b) => b - a);
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

const headerBuffer = new Uint8Array(HEADER_LENGTH);

/** The generation in the journal's header, or undefined when it is torn. */
export function readHeader(file: Deno.FsFile): number | undefined {
  file.seekSync(0, Deno.SeekMode.Start);
  const bytes = headerBuffer;
  let length = 0;
  while (length < HEADER_LENGTH) {
    const read = file.readSync(bytes.subarray(length));
    if (read === null || read === 0) break;
    length += read;
  }
  const scan = scanRecords(bytes.subarray(0, length));
  const record = scan.records[0];
  return record?.type === "h" && record.body === HEADER_BODY
    ? record.id
    : undefined;
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

/** Opens (or creates) the journal of `dir`, naming what is wrong. */
export async function openJournal(
  dir: string,
  create: boolean,
): Promise<Deno.FsFile> {
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
  const journal = path(dir, JOURNAL);
  if (!create) {
    try {
      await Deno.stat(journal);
    } catch {
      throw new SweepError(
        "not-a-sweep",
        `${dir} holds no sweep (no ${JOURNAL}, and no 'sweeps' file of execo)`,
      );
    }
  }
  try {
    return await Deno.open(journal, { read: true, write: true, create });
  } catch (error) {
    throw new SweepError(
      "io",
      `cannot open ${journal} for writing: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
