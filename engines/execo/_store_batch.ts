/**
 * What a sweep store does while it holds the journal's lock: catch up with
 * every byte the server holds, run the batch's transactions on the state,
 * and append the records they made at the journal's end in one write
 * (with the announcement of a snapshot when one is due).
 *
 * @module
 */

import { toAnnounce } from "./_store_compaction.ts";
import type { StoreReader } from "./_store_reader.ts";
import { concat } from "./files.ts";
import type { FsProfile } from "./fs_profile.ts";
import type { Journal } from "./journal.ts";
import { encodeRecord } from "./log.ts";
import type { Outcome, Pending, Transaction } from "./transaction.ts";

/** What a batch wrote. */
export interface BatchWritten {
  /** Whether it appended anything. */
  wrote: boolean;
  /** The snapshot it announced, which this process must write. */
  announce: number | undefined;
}

/**
 * Under the lock: catches up, runs each transaction of `batch` not aborted
 * (pushing its outcome to `outcomes`, and stopping at the first that
 * throws), and appends what they appended.
 *
 * @throws {SweepError} when the journal turns out damaged or a write fails
 */
export function writeBatch(
  reader: StoreReader,
  journal: Journal,
  profile: FsProfile,
  dir: string,
  batch: Pending[],
  outcomes: Outcome[],
): BatchWritten {
  reader.catchUpLocked();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (const one of batch) {
    if (one.options.signal?.aborted) {
      outcomes.push(undefined);
      continue;
    }
    const tx: Transaction = {
      state: reader.state,
      now: Date.now(),
      append: (type, id, body) => {
        const text = typeof body === "string" ? body : JSON.stringify(body);
        const line = encodeRecord(type, id, text);
        chunks.push(line);
        length += line.length;
        reader.state.apply({ type, id, body: text }, reader.offset + length);
      },
    };
    const before = length;
    try {
      outcomes.push({ value: one.work(tx) });
    } catch (error) {
      outcomes.push({ error });
      // The state ran ahead of what is written: write what the earlier
      // transactions appended, then reload.
      if (length > before) reader.stale = true;
      break;
    }
  }
  if (length === 0) return { wrote: false, announce: undefined };
  const announce = toAnnounce(reader, dir, length);
  if (announce !== undefined) {
    const line = encodeRecord("g", announce, "{}");
    chunks.push(line);
    length += line.length;
  }
  try {
    journal.write(reader.offset, concat(chunks, length), profile.syncEachWrite);
  } catch (error) {
    reader.stale = true;
    throw error;
  }
  reader.advance(length);
  return { wrote: true, announce };
}
