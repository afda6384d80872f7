/**
 * The queue a minion sees on a sweep: claims under a lease, settlements, and
 * the wait for params that other minions hold.
 *
 * A claim records the holder (a random token, host, pid); the minion renews
 * it while the task runs. A claim is abandoned when no renewal of it has
 * been seen for a whole lease, timed on the reader's own monotonic clock:
 * hosts' clocks may differ by any amount without a live claim ever being
 * taken for dead. An abandoned claim is taken by the next minion that finds
 * nothing else to do, or within a second anyway. A release gives the param
 * back without counting an attempt; a nack (a failure to retry) and an
 * abandoned claim count one.
 *
 * A minion with several free slots claims several params in one visit.
 *
 * @module
 */

import type { Delivery, Engine, JsonValue } from "../../core/contracts.ts";
import { delay } from "../../core/async.ts";
import { CLAIMED, DONE } from "./param_state.ts";
import type { Transaction } from "./store.ts";
import type { OpenSweep } from "./sweep.ts";

/** How a queue behaves. */
export interface QueueOptions {
  /** Lease of a claim, in ms. */
  leaseMs: number;
  /** Params the minion runs at once: one visit claims up to what is free. */
  concurrency?: number;
  /** Receives warnings (a torn record repaired, a lease lost). */
  warn: (message: string) => void;
}

/** Longest sleep between looks at a sweep whose params are all held. */
const MAX_POLL_MS = 500;
/** Longest wait of an ack for the next visit before it is written alone. */
const ACK_DELAY_MS = 50;
/** How often claims are checked for abandoned ones while todo params remain. */
const EXPIRY_SCAN_MS = 1000;

/** What this process last saw of a claim, and since when (monotonic ms). */
interface Sighting {
  owner: string;
  renewals: number;
  since: number;
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

interface Claimed {
  id: number;
  owner: string;
  text: string;
  attempt: number;
}

type Picked =
  | { claimed: Claimed[] }
  | { claimed: undefined; waiting: boolean };

/** Reasons are kept short: the journal is read by every minion. */
const MAX_REASON = 2000;

/**
 * A queue on `store`. Closing it gives back whatever it still holds and
 * closes the store.
 */
export function sweepQueue(store: OpenSweep, options: QueueOptions): Engine {
  const { leaseMs, warn } = options;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const host = hostname();
  const token = randomToken();
  let counter = 0;
  /** Claims this queue holds: owner token → param id. */
  const held = new Map<string, number>();
  /** Claimed in a visit but not handed out yet. */
  const ready: Delivery[] = [];
  /** Acknowledged but not written yet. */
  const acks: { id: number; owner: string }[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** Appends the pending acks to `tx`, and returns them. */
  const writeAcks = (tx: Transaction) => {
    const written = acks.splice(0);
    for (const { id, owner } of written) {
      if (tx.state.status[id] !== DONE) {
        tx.append("d", id, { o: owner, w: tx.now });
      }
    }
    return written;
  };

  /** Writes the pending acks now; warns about those it could not write. */
  const flush = async () => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (acks.length === 0) return;
    let written: typeof acks = [];
    try {
      await store.transact((tx) => (written = writeAcks(tx)), { sync: true });
    } catch (error) {
      warn(
        `could not record ${written.length || acks.length} params as done (${
          (error as Error).message
        }); the queue may hand them out again`,
      );
    }
  };

  const flushSoon = () => {
    flushTimer ??= setTimeout(flush, ACK_DELAY_MS);
  };
  /** Other minions' claims, as last seen. */
  const sightings = new Map<number, Sighting>();
  let lastScan = -Infinity;
  /** Params handed out, for the note on sweeps kept in execo's files. */
  let handed = 0;

  /**
   * The first claim of another minion that has not moved for a whole lease
   * on this process's clock, if any. Claims seen for the first time are
   * timed from now: a minion joining late waits one lease before it takes
   * over a claim, however old the claim looks.
   */
  const abandoned = (tx: Transaction): number | undefined => {
    const now = performance.now();
    let found: number | undefined;
    for (const [id, claim] of tx.state.claims) {
      // A Python minion's claim has no lease: execo never gives it back.
      if (held.has(claim.owner) || claim.external) continue;
      const seen = sightings.get(id);
      if (
        !seen || seen.owner !== claim.owner ||
        seen.renewals !== claim.renewals
      ) {
        sightings.set(id, {
          owner: claim.owner,
          renewals: claim.renewals,
          since: now,
        });
      } else if (found === undefined && now - seen.since > leaseMs) {
        found = id;
      }
    }
    for (const id of sightings.keys()) {
      if (!tx.state.claims.has(id)) sightings.delete(id);
    }
    return found;
  };

  const deliver = (
    id: number,
    owner: string,
    text: string,
    attempt: number,
  ): Delivery => {
    let settled = false;
    const settle = async (write: (tx: Transaction) => void, sync: boolean) => {
      if (settled) return;
      settled = true;
      held.delete(owner);
      await store.transact(write, { sync });
    };
    const mine = (tx: Transaction) =>
      tx.state.status[id] === CLAIMED &&
      tx.state.claims.get(id)?.owner === owner;
    return {
      param: JSON.parse(text) as JsonValue,
      attempt,
      id: `param ${id}`,
      ack() {
        // Written with this queue's next visit (the claim that follows),
        // or within ACK_DELAY_MS: one lock hold per param, not two.
        if (settled) return Promise.resolve();
        settled = true;
        held.delete(owner);
        acks.push({ id, owner });
        flushSoon();
        return Promise.resolve();
      },
      nack: () =>
        settle((tx) => {
          if (mine(tx)) tx.append("n", id, { o: owner, w: tx.now });
        }, false),
      release: () =>
        settle((tx) => {
          if (mine(tx)) tx.append("r", id, { o: owner, w: tx.now });
        }, false),
      fail: (reason: string) =>
        settle((tx) => {
          if (tx.state.status[id] === DONE) return;
          tx.append("f", id, {
            o: owner,
            w: tx.now,
            e: reason.slice(0, MAX_REASON),
          });
        }, true),
      async renew() {
        if (settled) return;
        const lost = await store.transact((tx) => {
          if (!mine(tx)) {
            const claim = tx.state.claims.get(id);
            return claim
              ? `${claim.host} pid ${claim.pid} holds it now`
              : "it is no longer held";
          }
          tx.append("e", id, { o: owner, x: tx.now + leaseMs });
          return undefined;
        });
        if (lost) {
          throw new Error(
            `the lease ran out before it was renewed and ${lost}; the param may run twice`,
          );
        }
      },
    };
  };

  /** Appends a claim of param `id` for this queue. */
  const claim = (tx: Transaction, id: number): Claimed => {
    const owner = `${token}.${++counter}`;
    tx.append("c", id, {
      o: owner,
      h: host,
      p: Deno.pid,
      x: tx.now + leaseMs,
      w: tx.now,
    });
    sightings.delete(id);
    return {
      id,
      owner,
      text: tx.state.texts[id]!,
      attempt: tx.state.attempts[id]! + 1,
    };
  };

  return {
    name: "execo",
    redelivers: true,
    renewEveryMs: Math.max(1, Math.floor(leaseMs / 3)),
    async next(signal): Promise<Delivery | undefined> {
      const buffered = ready.shift();
      if (buffered) return buffered;
      let wait = 50;
      while (!signal.aborted) {
        const want = Math.max(1, concurrency - held.size);
        let acked: typeof acks = [];
        // Acks ride along: synced as acks are (a claim alone need not be).
        const sync = acks.length > 0;
        const visit = store.transact((tx): Picked => {
          acked = writeAcks(tx);
          const { state } = tx;
          const claimed: Claimed[] = [];
          const mono = performance.now();
          if (mono - lastScan >= EXPIRY_SCAN_MS) {
            lastScan = mono;
            const id = abandoned(tx);
            if (id !== undefined) claimed.push(claim(tx, id));
          }
          while (claimed.length < want) {
            const id = state.nextTodo();
            if (id === undefined) break;
            claimed.push(claim(tx, id));
          }
          if (claimed.length === 0 && mono !== lastScan) {
            lastScan = mono;
            const id = abandoned(tx);
            if (id !== undefined) claimed.push(claim(tx, id));
          }
          if (claimed.length > 0) return { claimed };
          // Drained once nothing is held by anyone but this queue (a
          // Python minion's param never comes back: not waited for).
          let others = 0;
          for (const held_ of state.claims.values()) {
            if (!held.has(held_.owner) && !held_.external) others++;
          }
          return { claimed: undefined, waiting: others > 0 };
        }, { signal, sync });
        let picked: Picked | undefined;
        try {
          picked = await visit;
        } catch (error) {
          acks.unshift(...acked); // not written: they go with the next try
          flushSoon();
          throw error;
        }
        if (picked === undefined) {
          acks.unshift(...acked);
          flushSoon();
        }
        if (picked === undefined) return undefined;
        if (picked.claimed) {
          for (const one of picked.claimed) {
            handed++;
            held.set(one.owner, one.id);
            ready.push(deliver(one.id, one.owner, one.text, one.attempt));
          }
          if (signal.aborted) {
            for (const delivery of ready.splice(0)) await delivery.release();
            return undefined;
          }
          return ready.shift();
        }
        if (!picked.waiting) return undefined;
        await delay(wait / 2 + Math.random() * wait / 2, { signal }).catch(
          () => {},
        );
        wait = Math.min(wait * 2, MAX_POLL_MS);
      }
      return undefined;
    },
    remaining() {
      return Promise.resolve(store.state.counts.todo);
    },
    async close() {
      ready.length = 0;
      await flush();
      try {
        if (held.size > 0) {
          const owners = [...held];
          held.clear();
          await store.transact((tx) => {
            for (const [owner, id] of owners) {
              if (
                tx.state.status[id] === CLAIMED &&
                tx.state.claims.get(id)?.owner === owner
              ) tx.append("r", id, { o: owner, w: tx.now });
            }
          });
        }
      } catch (error) {
        warn(
          `could not give back held params: ${
            (error as Error).message
          }; their leases will run out`,
        );
      } finally {
        store.close();
        if (
          handed >= NOTE_AFTER && "converted" in store && !store.converted
        ) {
          warn(
            `${store.dir} is kept in Python execo's files, shared with Python minions, which makes each step of a minion about 3 times dearer than in minionize's own format; once no Python minion runs there, 'minionize sweep convert ${store.dir}' moves it`,
          );
        }
      }
    },
  };
}

/** Params a minion runs in execo's files before it says what converting saves. */
const NOTE_AFTER = 100;

/**
 * A dry-run queue: hands out each param still to do once, claiming nothing.
 */
export function dryQueue(texts: readonly string[]): Engine {
  let index = 0;
  const settled = () => Promise.resolve();
  return {
    name: "execo",
    redelivers: true,
    next(signal) {
      if (signal.aborted || index >= texts.length) {
        return Promise.resolve(undefined);
      }
      const id = index++;
      return Promise.resolve({
        param: JSON.parse(texts[id]!) as JsonValue,
        attempt: 1,
        id: `param ${id}`,
        ack: settled,
        nack: settled,
        release: settled,
        fail: settled,
      });
    },
    remaining: () => Promise.resolve(texts.length - index),
    close: settled,
  };
}
