/**
 * When a sweep store writes a snapshot, and writing it. A snapshot is
 * announced in the journal (a `g` record) by the transaction that finds the
 * journal grown {@linkcode COMPACT_BYTES} past the newest one, and written
 * after it by the process that announced it, from the state as of that
 * point; others keep their state and wait a while before announcing one of
 * their own.
 *
 * @module
 */

import type { StoreReader } from "./_store_reader.ts";
import {
  indexGenerations,
  newestIndex,
  removeStale,
  writeSnapshot,
} from "./snapshot.ts";

/** A snapshot is written once the journal has grown this much past one. */
const COMPACT_BYTES = 1 << 20;
/** How long a snapshot announced by another process is waited for, in ms. */
const ANNOUNCED_WAIT_MS = 60_000;
/** Snapshot generations kept, for processes slow to catch up. */
const KEEP_GENERATIONS = 3;

/** The generation after every one known, announced or on disk. */
export function nextGeneration(reader: StoreReader, dir: string): number {
  return Math.max(
    reader.index?.generation ?? 0,
    reader.announced?.generation ?? 0,
    ...indexGenerations(dir),
  ) + 1;
}

/**
 * The generation to announce with a write of `appending` bytes, when the
 * journal has grown far enough past the newest snapshot and nobody else is
 * writing one.
 */
export function toAnnounce(
  reader: StoreReader,
  dir: string,
  appending: number,
): number | undefined {
  const base = reader.index?.covers ?? 0;
  if (reader.offset + appending - base < COMPACT_BYTES) return undefined;
  const announced = reader.announced;
  if (
    announced && announced.generation > (reader.index?.generation ?? 0) &&
    performance.now() - announced.seenAt < ANNOUNCED_WAIT_MS
  ) return undefined;
  // Catch up with snapshots written meanwhile before deciding.
  const newest = newestIndex(dir, reader.offset);
  if (newest && newest.generation > (reader.index?.generation ?? 0)) {
    reader.index = newest;
    if (reader.offset + appending - newest.covers < COMPACT_BYTES) {
      return undefined;
    }
  }
  const next = nextGeneration(reader, dir);
  reader.noteAnnouncement(next);
  return next;
}

/** Writes the snapshot this process announced; warns when it cannot. */
export function writeAnnounced(
  reader: StoreReader,
  dir: string,
  generation: number,
  warn: (message: string) => void,
): void {
  try {
    reader.index = writeSnapshot(
      dir,
      generation,
      reader.offset,
      reader.state,
      reader.index,
    );
    removeStale(dir, KEEP_GENERATIONS);
  } catch (error) {
    // The journal holds everything: a missing snapshot only makes
    // joining slower. Another process writes the next one.
    warn(`could not write a snapshot of ${dir}: ${(error as Error).message}`);
  }
}
