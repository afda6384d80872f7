/**
 * The checks that instances of `minionize sweep doctor` run together once
 * they have met (see `doctor_peers.ts`): each member in turn takes the lock
 * on a shared journal and, while holding it, lets the others try the lock
 * (it must be refused); then it writes a record and lets go, and the others
 * take the lock and read the journal at once, through the descriptor they
 * kept open since the start and through a fresh open. Every step is a new
 * file with a name known in advance, so no step trusts file contents that
 * the filesystem may cache.
 *
 * @module
 */

import { delay } from "../../core/async.ts";

/** How long one member waits for another's next step. */
export const STEP_MS = 10_000;
/** How often files are looked for. */
export const POLL_MS = 20;
/** Every member holds the lock this many times. */
const ROUNDS = 2;
/** Bytes in one journal record. */
const RECORD = 64;

/** One instance of the doctor. */
export interface Peer {
  /** A random id, fresh for each instance. */
  id: string;
  /** Its host name. */
  host: string;
  /** Its process id. */
  pid: number;
}

/** What a member saw while another held the lock, then after taking it. */
export interface TurnObservation {
  /** The member that held the lock and wrote. */
  holder: Peer;
  /** Whether this member's own try of the lock was refused meanwhile. */
  lockedOut: boolean;
  /** Bytes in the journal after the holder's write. */
  expected: number;
  /** The size `fstat` gave on the descriptor kept open. */
  keptSize: number;
  /** Whether the kept descriptor read every byte, as written. */
  keptCurrent: boolean;
  /** Bytes it read. */
  keptBytes: number;
  /** Whether a fresh open read every byte, as written. */
  freshCurrent: boolean;
  /** Bytes it read. */
  freshBytes: number;
}

/** Thrown when a step is not seen in time. */
export class Timeout extends Error {}

/** Whether `path` exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates the empty file `path` (or leaves it as it is). */
export function touch(path: string): void {
  Deno.writeFileSync(path, new Uint8Array(), { create: true });
}

/** Polls `check` until it gives a value; throws {@linkcode Timeout} after `ms`. */
export async function until<T>(
  what: string,
  check: () => T | undefined,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    signal?.throwIfAborted();
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Timeout(what);
    await delay(POLL_MS, { signal }).catch(() => {});
  }
}

/** Takes the lock on `file`, trying every few ms. */
async function lock(
  file: Deno.FsFile,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  await until(what, () => file.tryLockSync(true) || undefined, STEP_MS, signal);
}

const encoder = new TextEncoder();

/** The journal's bytes once turn `turn` wrote its record. */
function journalAfter(turn: number, members: readonly Peer[]): Uint8Array {
  let text = "";
  for (let t = 0; t <= turn; t++) {
    const holder = members[t % members.length]!;
    text += `turn ${t} by ${holder.host} pid ${holder.pid}`.padEnd(
      RECORD - 1,
      ".",
    ).slice(0, RECORD - 1) + "\n";
  }
  return encoder.encode(text);
}

/** Every byte of `file`, read through it from the start. */
export function readToEnd(file: Deno.FsFile): Uint8Array {
  const chunks: Uint8Array[] = [];
  let length = 0;
  file.seekSync(0, Deno.SeekMode.Start);
  while (true) {
    const chunk = new Uint8Array(64 * 1024);
    const read = file.readSync(chunk);
    if (read === null || read === 0) break;
    chunks.push(chunk.subarray(0, read));
    length += read;
  }
  const all = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Every member in turn takes the lock on `journal` (open on `dir/journal`);
 * the others look at the journal (as a waiting minion does, so their caches
 * hold its old bytes) and try the lock, which must be refused; then the
 * holder writes and lets go, and the others take the lock and read at once.
 * `mine` creates a file of this member in `dir`.
 *
 * @returns what this member saw in the others' turns
 * @throws {Timeout} when another member's step does not show in time
 */
export async function takeTurns(
  dir: string,
  members: readonly Peer[],
  index: number,
  journal: Deno.FsFile,
  mine: (name: string) => void,
  signal: AbortSignal | undefined,
): Promise<TurnObservation[]> {
  const observations: TurnObservation[] = [];
  const path = `${dir}/journal`;
  const count = members.length;
  const host = (i: number) => `${members[i]!.host} pid ${members[i]!.pid}`;
  const seen = (name: string, from: number) =>
    until(
      `${name} from ${host(from)}`,
      () => exists(`${dir}/${name}`) || undefined,
      STEP_MS,
      signal,
    );
  for (let turn = 0; turn < ROUNDS * count; turn++) {
    const holder = turn % count;
    const others = [...members.keys()].filter((i) => i !== holder);
    if (holder === index) {
      // Go once every other member is ready, or has read the last turn.
      const last = (turn - 1) % count;
      for (const i of others) {
        if (turn === 0) await seen(`ready.${i}`, i);
        else if (i !== last) await seen(`read.${turn - 1}.${i}`, i);
      }
      await lock(journal, "the lock", signal);
      try {
        mine(`held.${turn}`);
        for (const i of others) await seen(`saw.${turn}.${i}`, i);
        const record = journalAfter(turn, members).subarray(turn * RECORD);
        journal.seekSync(turn * RECORD, Deno.SeekMode.Start);
        for (let at = 0; at < record.length;) {
          at += journal.writeSync(record.subarray(at));
        }
        mine(`wrote.${turn}`);
      } finally {
        journal.unlockSync();
      }
    } else {
      await seen(`held.${turn}`, holder);
      readToEnd(journal);
      journal.statSync();
      const lockedOut = !journal.tryLockSync(true);
      if (!lockedOut) journal.unlockSync();
      mine(`saw.${turn}.${index}`);
      // When the lock keeps no one out it orders nothing: wait for the
      // write to be done, so that the read checks only what it can.
      if (!lockedOut) await seen(`wrote.${turn}`, holder);
      await lock(journal, `the lock after ${host(holder)}`, signal);
      try {
        const expected = journalAfter(turn, members);
        const keptSize = journal.statSync().size;
        const kept = readToEnd(journal);
        const fresh = Deno.readFileSync(path);
        observations.push({
          holder: members[holder]!,
          lockedOut,
          expected: expected.length,
          keptSize,
          keptCurrent: keptSize === expected.length && same(kept, expected),
          keptBytes: kept.length,
          freshCurrent: same(fresh, expected),
          freshBytes: fresh.length,
        });
      } finally {
        journal.unlockSync();
      }
      mine(`read.${turn}.${index}`);
    }
  }
  return observations;
}
