/**
 * A sweep's state in memory, rebuilt by replaying records: every process
 * that replays the same records in the same order holds the same state.
 * Lookups, claims and settlements cost O(1) whatever the sweep size; only
 * the params currently claimed are ever scanned.
 *
 * @module
 */

import type { LogRecord } from "./log.ts";

/** Where a param stands. */
export const TODO = 0;
/** Claimed by a minion (its lease may have expired). */
export const CLAIMED = 1;
/** Done: acknowledged for good. */
export const DONE = 2;
/** Failed for good. */
export const FAILED = 3;

/** The status codes, by name. */
export const STATUS_NAMES = ["todo", "in-progress", "done", "failed"] as const;

/** Who holds a claimed param, and until when. */
export interface Claim {
  /** Token of the claim: the holder's random id and a counter. */
  owner: string;
  /** The holder's host name. */
  host: string;
  /** The holder's process id. */
  pid: number;
  /** When the lease runs out, in ms since the epoch. */
  expires: number;
  /** When it was claimed, in ms since the epoch. */
  since: number;
}

/** Why a param failed. */
export interface Failure {
  /** What the minion said. */
  reason: string;
  /** When, in ms since the epoch. */
  time: number;
}

/** The full state of one param, as a snapshot or a reset writes it. */
export interface ParamState {
  /** 0 todo, 1 claimed, 2 done, 3 failed. */
  st: number;
  /** Attempts finished or abandoned before the current one. */
  a: number;
  /** Claim token, when claimed. */
  o?: string;
  /** Holder's host, when claimed. */
  h?: string;
  /** Holder's pid, when claimed. */
  p?: number;
  /** Lease end in ms since the epoch, when claimed. */
  x?: number;
  /** When claimed, or when failed, in ms since the epoch. */
  w?: number;
  /** Failure reason, when failed (then `w` is when). */
  e?: string;
}

/** Counts by status. */
export interface Counts {
  /** Params still to do. */
  todo: number;
  /** Params claimed (in progress), expired leases included. */
  claimed: number;
  /** Params done. */
  done: number;
  /** Params failed for good. */
  failed: number;
}

interface OwnerBody {
  o?: string;
  w?: number;
  x?: number;
  h?: string;
  p?: number;
  e?: string;
}

/** Thrown when a record cannot belong to a sane sweep. */
export class StateError extends Error {
  /**
   * Makes the error.
   *
   * @param message what is inconsistent
   */
  constructor(message: string) {
    super(message);
    this.name = "StateError";
  }
}

/** The in-memory index of one sweep. */
export class SweepState {
  /** Canonical JSON text of each param, by id. */
  readonly texts: string[] = [];
  /** Status of each param, by id. */
  readonly status: number[] = [];
  /** Attempts finished or abandoned, by id. */
  readonly attempts: number[] = [];
  /** Param id by canonical text. */
  readonly ids = new Map<string, number>();
  /** Claims, by param id: only params currently claimed. */
  readonly claims = new Map<number, Claim>();
  /** Failures, by param id: only params currently failed. */
  readonly failures = new Map<number, Failure>();
  /** Counts by status. */
  readonly counts: Counts = { todo: 0, claimed: 0, done: 0, failed: 0 };
  // Candidates for the next claim, in order; entries that left todo are
  // skipped lazily, so a claim never searches the sweep.
  #queue: number[] = [];
  #head = 0;

  /** How many params the sweep holds. */
  get size(): number {
    return this.texts.length;
  }

  /** The id of the first param still to do, or undefined. */
  nextTodo(): number | undefined {
    while (this.#head < this.#queue.length) {
      const id = this.#queue[this.#head]!;
      if (this.status[id] === TODO) return id;
      this.#head++;
    }
    if (this.#head > 0) {
      this.#queue = [];
      this.#head = 0;
    }
    return undefined;
  }

  /** Ids of params still to do, in the order they would be claimed. */
  *todoIds(): Generator<number> {
    const seen = new Set<number>();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const id = this.#queue[i]!;
      if (this.status[id] === TODO && !seen.has(id)) {
        seen.add(id);
        yield id;
      }
    }
  }

  /** The first claim whose lease ran out before `now`, if any. */
  expiredClaim(now: number): number | undefined {
    for (const [id, claim] of this.claims) {
      if (claim.expires < now) return id;
    }
    return undefined;
  }

  /** Applies one record. Unknown ids and stale owners are ignored. */
  apply(record: LogRecord): void {
    const { type, id } = record;
    if (type === "a") return this.#add(id, record.body);
    if (type === "h" || type === "z") return;
    if (id >= this.texts.length) {
      throw new StateError(`a '${type}' record names param ${id}, unknown`);
    }
    const body = JSON.parse(record.body) as OwnerBody & ParamState;
    const status = this.status[id]!;
    const claim = this.claims.get(id);
    const mine = status === CLAIMED && claim?.owner === body.o;
    switch (type) {
      case "c": // claim: a claim still held counts as abandoned
        if (status === CLAIMED) this.attempts[id]!++;
        this.#set(id, CLAIMED);
        this.claims.set(id, {
          owner: body.o ?? "",
          host: body.h ?? "",
          pid: body.p ?? 0,
          expires: body.x ?? 0,
          since: body.w ?? 0,
        });
        return;
      case "e": // extend the lease
        if (mine) claim!.expires = body.x ?? claim!.expires;
        return;
      case "r": // released: not an attempt
        if (mine) this.#set(id, TODO);
        return;
      case "n": // failed, to be retried
        if (mine) {
          this.attempts[id]!++;
          this.#set(id, TODO);
        }
        return;
      case "d": // done: an acknowledged result is kept, whoever sends it
        if (status === DONE) return;
        if (mine) this.attempts[id]!++;
        this.#set(id, DONE);
        return;
      case "f": // failed for good, unless someone else holds it now
        if (status === DONE || (status === CLAIMED && !mine)) return;
        if (mine) this.attempts[id]!++;
        this.#set(id, FAILED);
        this.failures.set(id, { reason: body.e ?? "", time: body.w ?? 0 });
        return;
      case "s": // whole state (snapshots, resets, imports)
        if (![TODO, CLAIMED, DONE, FAILED].includes(body.st)) {
          throw new StateError(`a state record has status ${body.st}`);
        }
        this.attempts[id] = body.a ?? 0;
        this.#set(id, body.st);
        if (body.st === CLAIMED) {
          this.claims.set(id, {
            owner: body.o ?? "",
            host: body.h ?? "",
            pid: body.p ?? 0,
            expires: body.x ?? 0,
            since: body.w ?? 0,
          });
        } else if (body.st === FAILED) {
          this.failures.set(id, { reason: body.e ?? "", time: body.w ?? 0 });
        }
        return;
      default:
        throw new StateError(`unknown record type '${type}'`);
    }
  }

  /** The whole state of param `id`, for snapshots. */
  paramState(id: number): ParamState {
    const st = this.status[id]!;
    const state: ParamState = { st, a: this.attempts[id]! };
    const claim = this.claims.get(id);
    if (st === CLAIMED && claim) {
      Object.assign(state, {
        o: claim.owner,
        h: claim.host,
        p: claim.pid,
        x: claim.expires,
        w: claim.since,
      });
    }
    const failure = this.failures.get(id);
    if (st === FAILED && failure) {
      Object.assign(state, { e: failure.reason, w: failure.time });
    }
    return state;
  }

  #add(id: number, text: string): void {
    if (id !== this.texts.length) {
      throw new StateError(
        `an add record has id ${id}, expected ${this.texts.length}`,
      );
    }
    this.texts.push(text);
    this.status.push(TODO);
    this.attempts.push(0);
    this.ids.set(text, id);
    this.counts.todo++;
    this.#queue.push(id);
  }

  #set(id: number, next: number): void {
    const previous = this.status[id]!;
    if (previous === CLAIMED && next !== CLAIMED) this.claims.delete(id);
    if (previous === FAILED && next !== FAILED) this.failures.delete(id);
    if (previous === next) return;
    this.counts[COUNT_KEYS[previous]!]--;
    this.counts[COUNT_KEYS[next]!]++;
    this.status[id] = next;
    if (next === TODO) {
      this.#queue.push(id);
      // Keep the candidate list from growing without bound.
      if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    }
  }
}

const COUNT_KEYS: readonly (keyof Counts)[] = [
  "todo",
  "claimed",
  "done",
  "failed",
];
