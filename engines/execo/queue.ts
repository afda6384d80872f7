/**
 * The queue a minion sees on a sweep: claims under a lease, settlements, and
 * the wait for params that other minions hold.
 *
 * A claim records the holder (a random token, host, pid) and when its lease
 * runs out; the minion renews it while the task runs. A claim whose lease
 * ran out is taken by the next minion that finds nothing else to do, or
 * within a second anyway. A release gives the param back without counting
 * an attempt; a nack (a failure to retry) and an abandoned lease count one.
 *
 * @module
 */

import type { Delivery, Engine, JsonValue } from "../../core/contracts.ts";
import { sleep } from "./lock.ts";
import { CLAIMED, DONE } from "./state.ts";
import type { SweepStore, Transaction } from "./store.ts";

/** How a queue behaves. */
export interface QueueOptions {
  /** Lease of a claim, in ms. */
  leaseMs: number;
  /** Receives warnings (a torn record repaired, a lease lost). */
  warn: (message: string) => void;
}

/** Longest sleep between looks at a sweep whose params are all held. */
const MAX_POLL_MS = 500;
/** How often claims are checked for expired leases while todo params remain. */
const EXPIRY_SCAN_MS = 1000;

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

type Picked =
  | { claimed: true; id: number; owner: string; text: string; attempt: number }
  | { claimed: false; waiting: boolean };

/** Reasons are kept short: the journal is read by every minion. */
const MAX_REASON = 2000;

/**
 * A queue on `store`. Closing it gives back whatever it still holds and
 * closes the store.
 */
export function sweepQueue(store: SweepStore, options: QueueOptions): Engine {
  const { leaseMs, warn } = options;
  const host = hostname();
  const token = randomToken();
  let counter = 0;
  /** Claims this queue holds: owner token → param id. */
  const held = new Map<string, number>();
  let lastScan = 0;

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
      ack: () =>
        settle((tx) => {
          if (tx.state.status[id] !== DONE) {
            tx.append("d", id, { o: owner, w: tx.now });
          }
        }, true),
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

  return {
    name: "execo",
    redelivers: true,
    renewEveryMs: Math.max(1, Math.floor(leaseMs / 3)),
    async next(signal): Promise<Delivery | undefined> {
      let wait = 50;
      while (!signal.aborted) {
        const picked = await store.transact((tx): Picked => {
          const { state, now } = tx;
          let id: number | undefined;
          if (now - lastScan >= EXPIRY_SCAN_MS) {
            lastScan = now;
            id = state.expiredClaim(now);
          }
          id ??= state.nextTodo() ?? state.expiredClaim(now);
          if (id === undefined) {
            // Drained once nothing is held by anyone but this queue.
            let others = 0;
            for (const claim of state.claims.values()) {
              if (!held.has(claim.owner)) others++;
            }
            return { claimed: false, waiting: others > 0 };
          }
          const owner = `${token}.${++counter}`;
          tx.append("c", id, {
            o: owner,
            h: host,
            p: Deno.pid,
            x: now + leaseMs,
            w: now,
          });
          return {
            claimed: true,
            id,
            owner,
            text: state.texts[id]!,
            attempt: state.attempts[id]! + 1,
          };
        }, { signal });
        if (picked === undefined) return undefined;
        if (picked.claimed) {
          held.set(picked.owner, picked.id);
          const delivery = deliver(
            picked.id,
            picked.owner,
            picked.text,
            picked.attempt,
          );
          if (signal.aborted) {
            await delivery.release();
            return undefined;
          }
          return delivery;
        }
        if (!picked.waiting) return undefined;
        await sleep(wait / 2 + Math.random() * wait / 2, signal);
        wait = Math.min(wait * 2, MAX_POLL_MS);
      }
      return undefined;
    },
    remaining() {
      return Promise.resolve(store.state.counts.todo);
    },
    async close() {
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
      }
    },
  };
}

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
