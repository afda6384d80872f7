/**
 * How instances of `minionize sweep doctor` started on several nodes find
 * each other through files in the sweep directory, then check together
 * that a lock one of them holds keeps the others out, and that what it
 * writes under the lock the others read after taking it.
 *
 * They meet in `DIR/.minionize-doctor/RUN/`. The first to create that
 * directory leads: it waits for the others to add their `join.*` files
 * (until as many as expected came, or for a join window), then writes the
 * list of members. Then each member in turn takes the lock on a shared
 * journal, writes a record into it, and says so with a `held.T` file; each
 * other member tries the lock once (it must be refused), answers with
 * `saw.T.I`, waits for the lock, and reads the journal through the
 * descriptor it kept open since the start and through a fresh open. Every
 * step is a new file with a name known in advance, so no step trusts file
 * contents that the filesystem may cache. The leader removes the directory
 * at the end.
 *
 * @module
 */

/** How long one member waits for another's next step. */
const STEP_MS = 10_000;
/** How often files are looked for. */
const POLL_MS = 20;
/** A run directory untouched for this long belongs to a doctor that died. */
const STALE_MS = 60_000;
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

/** What one member learned. */
export interface PeerRun {
  /** Every member, leader first; empty when this one came too late. */
  members: Peer[];
  /** This instance. */
  me: Peer;
  /** What it saw in the other members' turns. */
  observations: TurnObservation[];
  /** Why the checks stopped early (a member stopped answering, ...). */
  problem: string | undefined;
}

/** How {@linkcode meetPeers} meets. */
export interface MeetOptions {
  /** The run's name: instances with the same name meet. */
  run: string;
  /** How many instances to wait for, this one included. @default {undefined} (wait `joinMs`) */
  peers?: number | undefined;
  /** How long to wait for others when `peers` is not given, in ms. */
  joinMs: number;
  /** How long to wait for `peers` instances at most, in ms. @default {15000} */
  peersMs?: number;
  /** The file server's clock now, in ms (to tell a dead run by its files' times). */
  serverNow: () => number;
  /** Stops waiting; the files of this instance are removed. */
  signal?: AbortSignal | undefined;
  /** Told when this instance starts waiting for others. */
  onWait?: (message: string) => void;
}

/** Thrown when a step is not seen in time. */
class Timeout extends Error {}

const encoder = new TextEncoder();

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function touch(path: string): void {
  Deno.writeFileSync(path, new Uint8Array(), { create: true });
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Polls `check` until it gives a value; throws {@linkcode Timeout} after `ms`. */
async function until<T>(
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
    await sleep(POLL_MS, signal);
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

/** The join file's name for `peer`. */
function joinName(peer: Peer): string {
  return `join.${peer.id}.${peer.pid}.${peer.host}`;
}

function parseJoin(name: string): Peer | undefined {
  const match = /^join\.([0-9a-f]+)\.([0-9]+)\.(.+)$/.exec(name);
  return match
    ? { id: match[1]!, pid: Number(match[2]), host: match[3]! }
    : undefined;
}

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

function readToEnd(file: Deno.FsFile): Uint8Array {
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

/** The newest modification time in `dir` (itself included), in ms. */
function newestChange(dir: string): number {
  let newest = Deno.statSync(dir).mtime?.getTime() ?? 0;
  for (const name of names(dir)) {
    try {
      newest = Math.max(
        newest,
        Deno.statSync(`${dir}/${name}`).mtime?.getTime() ?? 0,
      );
    } catch {
      // removed meanwhile
    }
  }
  return newest;
}

/**
 * Joins the run `options.run` under `base` (creating it, and leading it,
 * when this instance comes first), and runs the lock and read checks with
 * the others. Leaves nothing behind in `base` but `base` itself.
 *
 * @throws {Error} only for what stops this instance itself (a file it
 * cannot create); what others fail to do is in `problem`
 */
export async function meetPeers(
  base: string,
  options: MeetOptions,
): Promise<PeerRun> {
  const signal = options.signal;
  const me: Peer = {
    id: crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16),
    host: Deno.hostname().replace(/[^A-Za-z0-9.-]/g, "_"),
    pid: Deno.pid,
  };
  const dir = `${base}/${options.run}`;
  const join = `${dir}/${joinName(me)}`;
  let leader = false;
  // Create or join the run directory; a dead doctor's is cleared first.
  for (let tries = 0;; tries++) {
    signal?.throwIfAborted();
    if (tries === 50) {
      throw new Error(`cannot create or join ${dir}: it keeps changing`);
    }
    try {
      Deno.mkdirSync(dir);
      leader = true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        Deno.mkdirSync(base, { recursive: true });
        continue;
      }
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
      try {
        if (options.serverNow() - newestChange(dir) > STALE_MS) {
          const aside = `${base}/stale.${me.id}`;
          Deno.renameSync(dir, aside);
          Deno.removeSync(aside, { recursive: true });
          continue;
        }
      } catch {
        continue; // it went away meanwhile
      }
    }
    try {
      touch(join);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      // the run ended between our mkdir and our join: start over
    }
  }

  const run: PeerRun = {
    members: [],
    me,
    observations: [],
    problem: undefined,
  };
  const own: string[] = [join];
  const mine = (name: string) => {
    own.push(`${dir}/${name}`);
    touch(`${dir}/${name}`);
  };
  let journal: Deno.FsFile | undefined;
  let finished = false;
  try {
    const joinMs = options.peers === undefined
      ? options.joinMs
      : options.peersMs ?? 15_000;
    if (leader) {
      if (options.peers !== 1) {
        options.onWait?.(
          options.peers === undefined
            ? `waiting ${
              joinMs / 1000
            } s for other instances to join ${dir} (start them now on other nodes, or give --peers N)`
            : `waiting up to ${
              joinMs / 1000
            } s for ${options.peers} instances to join ${dir}`,
        );
      }
      const deadline = Date.now() + joinMs;
      let joined: Peer[] = [];
      while (true) {
        joined = names(dir).map(parseJoin).filter((p): p is Peer =>
          p !== undefined && p.id !== me.id
        );
        if (options.peers !== undefined && joined.length + 1 >= options.peers) {
          break;
        }
        if (Date.now() > deadline) break;
        await sleep(POLL_MS * 5, signal);
        signal?.throwIfAborted();
      }
      joined.sort((a, b) => a.id.localeCompare(b.id));
      run.members = [me, ...joined];
      Deno.writeFileSync(`${dir}/journal`, new Uint8Array());
      // Written whole and synced before it gets its name: a member reads it
      // only once it exists.
      const temporary = `${dir}/members.${me.id}`;
      const file = Deno.openSync(temporary, { write: true, create: true });
      try {
        const bytes = encoder.encode(JSON.stringify(run.members));
        for (let at = 0; at < bytes.length;) {
          at += file.writeSync(bytes.subarray(at));
        }
        file.syncSync();
      } finally {
        file.close();
      }
      Deno.renameSync(temporary, `${dir}/members`);
    } else {
      options.onWait?.(`joined ${dir}; waiting for the list of instances`);
      run.members = await until(
        "the list of instances",
        () => {
          try {
            return JSON.parse(
              Deno.readTextFileSync(`${dir}/members`),
            ) as Peer[];
          } catch {
            return undefined;
          }
        },
        joinMs + STEP_MS,
        signal,
      );
      if (!run.members.some((peer) => peer.id === me.id)) {
        run.members = []; // came after the list was made
        return run;
      }
    }
    const members = run.members;
    const index = members.findIndex((peer) => peer.id === me.id);
    journal = Deno.openSync(`${dir}/journal`, { read: true, write: true });
    readToEnd(journal); // as a minion does: its caches are warm
    mine(`ready.${index}`);
    if (members.length > 1) {
      await takeTurns(dir, members, index, journal, run, mine, signal);
    }
    finished = true;
  } catch (error) {
    if (error instanceof Timeout) {
      run.problem = `${error.message} did not show within ${
        STEP_MS / 1000
      } s: the instance that should have made it stopped, or files made on one node do not show on the others`;
    } else if (!signal?.aborted) throw error;
  } finally {
    journal?.close();
    if (leader && run.members.length > 0) {
      // Everyone says done before the leader clears the run.
      const others = run.members.length - 1;
      if (finished && !signal?.aborted) {
        mineQuietly(dir, `done.0`);
        await until(
          "done",
          () =>
            names(dir).filter((n) => n.startsWith("done.")).length > others ||
            undefined,
          STEP_MS,
          signal,
        ).catch(() => {});
      }
      removeRun(dir);
    } else if (leader) {
      removeRun(dir);
    } else {
      if (run.members.length > 0) {
        const index = run.members.findIndex((peer) => peer.id === me.id);
        mineQuietly(dir, `done.${index}`);
      }
      if (run.members.length === 0 || signal?.aborted) {
        for (const path of own) Deno.removeSync(path, { recursive: true });
      }
    }
  }
  return run;
}

function mineQuietly(dir: string, name: string): void {
  try {
    touch(`${dir}/${name}`);
  } catch {
    // the run is gone already
  }
}

function removeRun(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // gone already
  }
}

/**
 * Every member in turn takes the lock; the others look at the journal (as
 * a waiting minion does, so their caches hold its old bytes) and try the
 * lock, which must be refused; then the holder writes and lets go, and the
 * others take the lock and read at once.
 */
async function takeTurns(
  dir: string,
  members: readonly Peer[],
  index: number,
  journal: Deno.FsFile,
  run: PeerRun,
  mine: (name: string) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
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
        run.observations.push({
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
}
