/**
 * Where a param of a sweep stands, in the words every part of the engine
 * shares: its status codes, who holds a claim and until when, why a param
 * failed, the whole state a snapshot or a reset writes, counts by status,
 * and the shards that params are grouped in.
 *
 * @module
 */

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

/** Params in one shard. */
export const SHARD_SIZE = 4096;

/** Who holds a claimed param, and until when. */
export interface Claim {
  /** Token of the claim: the holder's random id and a counter. */
  owner: string;
  /** The holder's host name. */
  host: string;
  /** The holder's process id. */
  pid: number;
  /** When the lease runs out, in ms since the epoch, on the holder's clock. */
  expires: number;
  /** When it was claimed, in ms since the epoch, on the holder's clock. */
  since: number;
  /**
   * Renewals applied since the claim: a claim whose renewals stop moving
   * for a whole lease, timed on the reader's own clock, is abandoned.
   */
  renewals: number;
  /**
   * Held by a process outside minionize (a Python execo minion, seen in
   * execo's `inprogress`): it has no lease, never expires, and nobody waits
   * for it, as in execo.
   */
  external?: boolean;
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

/** The params of one shard, as its file holds them. */
export interface ShardContent {
  /** Canonical JSON of each param, from the shard's first id on. */
  texts: string[];
  /** States of the params that are not plain todo, by id. */
  states: Map<number, ParamState>;
}

/** Reads a shard that is not loaded yet (throws when it cannot). */
export type ShardLoader = (shard: number) => ShardContent;

/** What a state starts from when it is not empty. */
export interface StateSeed {
  /** How many params the sweep holds. */
  size: number;
  /** Counts of each shard, in order. */
  shards: Counts[];
  /** Every claimed param's state, by id. */
  claims: Map<number, ParamState>;
}

/** The fields of a record that names a claim's holder. */
export interface OwnerBody {
  /** Claim token. */
  o?: string;
  /** When claimed (or failed), in ms since the epoch. */
  w?: number;
  /** Lease end, in ms since the epoch. */
  x?: number;
  /** Holder's host. */
  h?: string;
  /** Holder's pid. */
  p?: number;
  /** Failure reason. */
  e?: string;
  /** 1 for a claim held outside minionize (see {@linkcode Claim.external}). */
  k?: number;
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

/** Counts of nothing. */
export const emptyCounts = (): Counts => ({
  todo: 0,
  claimed: 0,
  done: 0,
  failed: 0,
});

/** The shard that param `id` belongs to. */
export const shardOf = (id: number): number => Math.floor(id / SHARD_SIZE);

/** A claim, from the body of a record or a param's state. */
export function claimOf(body: OwnerBody): Claim {
  return {
    owner: body.o ?? "",
    host: body.h ?? "",
    pid: body.p ?? 0,
    expires: body.x ?? 0,
    since: body.w ?? 0,
    renewals: 0,
    ...(body.k === 1 ? { external: true } : {}),
  };
}

/** The keys of {@linkcode Counts}, by status code. */
export const COUNT_KEYS: readonly (keyof Counts)[] = [
  "todo",
  "claimed",
  "done",
  "failed",
];
