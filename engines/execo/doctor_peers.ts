/**
 * How instances of `minionize sweep doctor` started on several nodes find
 * each other through files in the sweep directory, before they check locks
 * and reads together (`doctor_turns.ts`).
 *
 * They meet in `DIR/.minionize-doctor/RUN/`. The first to create that
 * directory leads: it waits for the others to add their `join.*` files
 * (until as many as expected came, or for a join window), then writes the
 * list of members, written whole before it gets its name. After the checks,
 * each member says it is done and the leader removes the directory. A run
 * directory whose files are all a minute old belongs to a doctor that died,
 * and the next one clears it.
 *
 * @module
 */

import { delay } from "../../core/async.ts";
import {
  type Peer,
  POLL_MS,
  readToEnd,
  STEP_MS,
  takeTurns,
  Timeout,
  touch,
  type TurnObservation,
  until,
} from "./doctor_turns.ts";

export type { Peer, TurnObservation };

/** A run directory untouched for this long belongs to a doctor that died. */
const STALE_MS = 60_000;
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

const encoder = new TextEncoder();

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name);
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
        await delay(POLL_MS * 5, { signal }).catch(() => {});
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
      run.observations = await takeTurns(
        dir,
        members,
        index,
        journal,
        mine,
        signal,
      );
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
