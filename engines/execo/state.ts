/**
 * A sweep's state in memory, rebuilt by replaying records: every process
 * that replays the same records in the same order holds the same state.
 * Lookups, claims and settlements cost O(1) whatever the sweep size; only
 * the params currently claimed are ever scanned.
 *
 * Params are grouped in shards of {@linkcode SHARD_SIZE} consecutive ids,
 * and a shard's params are loaded only when needed: when a record names one
 * of them, or when the queue looks for params to do. So a minion joining a
 * sweep of a million params reads a few shards, not the whole sweep. Until
 * its shard is loaded a param's text and status are holes; the counts,
 * per shard and in all, and the claims are always known in full.
 *
 * @module
 */

import type { LogRecord } from "./log.ts";
import {
  type Claim,
  CLAIMED,
  claimOf,
  COUNT_KEYS,
  type Counts,
  DONE,
  emptyCounts,
  FAILED,
  type Failure,
  type OwnerBody,
  type ParamState,
  SHARD_SIZE,
  type ShardLoader,
  shardOf,
  StateError,
  type StateSeed,
  TODO,
} from "./param_state.ts";

/** The first state of a new sweep. */
export interface InitialState {
  /** Canonical JSON of each param, in order (id = index). */
  texts: string[];
  /** States of the params that are not plain todo. */
  states?: Map<number, ParamState>;
}

/** The in-memory index of one sweep. */
export class SweepState {
  /** Canonical JSON text of each param, by id (a hole until loaded). */
  readonly texts: string[];
  /** Status of each param, by id (a hole until loaded). */
  readonly status: number[];
  /** Attempts finished or abandoned, by id (a hole until loaded, but for claims). */
  readonly attempts: number[];
  /** Param id by canonical text, for the loaded shards. */
  readonly ids = new Map<string, number>();
  /** Claims, by param id: every param currently claimed. */
  readonly claims = new Map<number, Claim>();
  /** Failures, by param id: the failed params of the loaded shards. */
  readonly failures = new Map<number, Failure>();
  /** Counts by status, over the whole sweep. */
  readonly counts: Counts = emptyCounts();
  /** Counts by status of each shard. */
  readonly shardCounts: Counts[] = [];
  /** Whether each shard is loaded. */
  readonly loaded: boolean[] = [];
  /**
   * Where in the journal the last record that changed each shard ends (-1
   * when none did since this state was seeded): a snapshot may reuse the
   * file of a shard that nothing changed since.
   */
  readonly touched: number[] = [];
  /** Reads shards on demand; without one, every shard must be loaded. */
  loader: ShardLoader | undefined;
  // Candidates for the next claim, by shard, in order; entries that left
  // todo are skipped lazily, so a claim never searches the sweep.
  #queues: { ids: number[]; head: number }[] = [];
  // Shards before this one hold nothing to do.
  #scan = 0;
  // Journal offset of the record being applied, for `touched`.
  #at = -1;

  /**
   * An empty state, or one with room for `size` params whose shards are
   * not loaded yet.
   */
  constructor(size = 0) {
    // Holes until loaded: reading one gives undefined, which no status
    // equals. `new Array(n)` keeps the fast array layout (where setting a
    // length would not).
    this.texts = new Array(size);
    this.status = new Array(size);
    this.attempts = new Array(size);
  }

  /**
   * A state seeded from a snapshot's index: sizes, counts and claims are
   * known, params are loaded shard by shard through `loader`.
   */
  static seeded(seed: StateSeed, loader: ShardLoader): SweepState {
    const { size } = seed;
    const state = new SweepState(size);
    state.loader = loader;
    for (const counts of seed.shards) {
      state.shardCounts.push({ ...counts });
      state.#queues.push({ ids: [], head: 0 });
      state.loaded.push(false);
      state.touched.push(-1);
      for (const key of COUNT_KEYS) state.counts[key] += counts[key];
    }
    if (state.shardCounts.length !== Math.ceil(size / SHARD_SIZE)) {
      throw new StateError(
        `${state.shardCounts.length} shards cannot hold ${size} params`,
      );
    }
    for (const [id, param] of seed.claims) {
      if (id >= size || param.st !== CLAIMED) {
        throw new StateError(`the claim of param ${id} does not fit the sweep`);
      }
      state.attempts[id] = param.a;
      state.claims.set(id, claimOf(param));
    }
    return state;
  }

  /** How many params the sweep holds. */
  get size(): number {
    return this.texts.length;
  }

  /** Loads every shard (for listings and snapshots of the whole sweep). */
  loadAll(): void {
    for (let shard = 0; shard < this.loaded.length; shard++) {
      this.#ensure(shard);
    }
  }

  /** Loads the shard of param `id` if it is not loaded yet. */
  load(id: number): void {
    this.#ensure(shardOf(id));
  }

  /**
   * The id of the first param still to do, or undefined: from the first
   * shard that has one (loading it if needed), in the order its params
   * were added or came back.
   */
  nextTodo(): number | undefined {
    for (; this.#scan < this.shardCounts.length; this.#scan++) {
      if (this.shardCounts[this.#scan]!.todo === 0) continue;
      this.#ensure(this.#scan);
      const queue = this.#queues[this.#scan]!;
      while (queue.head < queue.ids.length) {
        const id = queue.ids[queue.head]!;
        if (this.status[id] === TODO) return id;
        queue.head++;
      }
      throw new StateError(
        `shard ${this.#scan} counts params to do but has none`,
      );
    }
    return undefined;
  }

  /** Ids of params still to do, in the order they would be claimed. */
  *todoIds(): Generator<number> {
    this.loadAll();
    for (const queue of this.#queues) {
      const seen = new Set<number>();
      for (let i = queue.head; i < queue.ids.length; i++) {
        const id = queue.ids[i]!;
        if (this.status[id] === TODO && !seen.has(id)) {
          seen.add(id);
          yield id;
        }
      }
    }
  }

  /**
   * Applies records read from the journal; `end` is where they end in it
   * (for `touched`). Unknown ids and stale owners are ignored.
   */
  applyAll(records: readonly LogRecord[], end: number): void {
    for (const record of records) this.apply(record, end);
  }

  /**
   * Applies one record, which ends at journal offset `end` (-1 when it is
   * not in the journal: a snapshot's or a new sweep's). Unknown ids and
   * stale owners are ignored.
   */
  apply(record: LogRecord, end = -1): void {
    this.#at = end;
    const { type, id } = record;
    if (type === "a") return this.#add(id, record.body);
    if (!(type in CHANGES)) {
      if (type in IGNORED) return;
      throw new StateError(`unknown record type '${type}'`);
    }
    if (id >= this.texts.length) {
      throw new StateError(`a '${type}' record names param ${id}, unknown`);
    }
    const shard = shardOf(id);
    this.#ensure(shard);
    this.touched[shard] = this.#at;
    const body = JSON.parse(record.body) as OwnerBody & ParamState;
    const status = this.status[id]!;
    const claim = this.claims.get(id);
    const mine = status === CLAIMED && claim?.owner === body.o;
    switch (type) {
      case "c": // claim: a claim still held counts as abandoned
        if (status === CLAIMED) this.attempts[id]!++;
        this.#set(id, CLAIMED);
        this.claims.set(id, claimOf(body));
        return;
      case "e": // extend the lease
        if (mine) {
          claim!.expires = body.x ?? claim!.expires;
          claim!.renewals++;
        }
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
        this.#setState(id, body);
        return;
    }
  }

  /** The whole state of param `id`, for snapshots (its shard is loaded). */
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

  /** The state a claimed param had in a snapshot, known without its shard. */
  claimState(id: number): ParamState {
    const claim = this.claims.get(id)!;
    return {
      st: CLAIMED,
      a: this.attempts[id]!,
      o: claim.owner,
      h: claim.host,
      p: claim.pid,
      x: claim.expires,
      w: claim.since,
    };
  }

  #ensure(shard: number): void {
    if (this.loaded[shard]) return;
    if (!this.loader) throw new StateError(`shard ${shard} is not loaded`);
    const content = this.loader(shard);
    const first = shard * SHARD_SIZE;
    const expected = Math.min(SHARD_SIZE, this.texts.length - first);
    if (content.texts.length !== expected) {
      throw new StateError(
        `shard ${shard} holds ${content.texts.length} params where ${expected} were expected`,
      );
    }
    const counts = emptyCounts();
    for (let i = 0; i < content.texts.length; i++) {
      const id = first + i;
      const text = content.texts[i]!;
      const param = content.states.get(id);
      const st = param?.st ?? TODO;
      this.texts[id] = text;
      this.ids.set(text, id);
      this.status[id] = st;
      this.attempts[id] = param?.a ?? 0;
      counts[COUNT_KEYS[st]!]++;
      if (st === TODO) this.#queues[shard]!.ids.push(id);
      if (st === FAILED) {
        this.failures.set(id, { reason: param!.e ?? "", time: param!.w ?? 0 });
      }
      if (st === CLAIMED && !this.claims.has(id)) {
        throw new StateError(
          `param ${id} is claimed in its shard, not in the index`,
        );
      }
    }
    const known = this.shardCounts[shard]!;
    if (COUNT_KEYS.some((key) => known[key] !== counts[key])) {
      throw new StateError(
        `shard ${shard} holds other counts than the snapshot's index says`,
      );
    }
    this.loaded[shard] = true;
  }

  #setState(id: number, body: ParamState): void {
    if (![TODO, CLAIMED, DONE, FAILED].includes(body.st)) {
      throw new StateError(`a state record has status ${body.st}`);
    }
    this.attempts[id] = body.a ?? 0;
    this.#set(id, body.st);
    if (body.st === CLAIMED) {
      this.claims.set(id, claimOf(body));
    } else if (body.st === FAILED) {
      this.failures.set(id, { reason: body.e ?? "", time: body.w ?? 0 });
    }
  }

  #add(id: number, text: string): void {
    if (id !== this.texts.length) {
      throw new StateError(
        `an add record has id ${id}, expected ${this.texts.length}`,
      );
    }
    const shard = shardOf(id);
    if (shard === this.loaded.length) {
      this.shardCounts.push(emptyCounts());
      this.#queues.push({ ids: [], head: 0 });
      this.loaded.push(true);
      this.touched.push(-1);
    } else {
      this.#ensure(shard);
    }
    this.touched[shard] = this.#at;
    this.texts.push(text);
    this.status.push(TODO);
    this.attempts.push(0);
    this.ids.set(text, id);
    this.counts.todo++;
    this.shardCounts[shard]!.todo++;
    this.#queues[shard]!.ids.push(id);
    if (shard < this.#scan) this.#scan = shard;
  }

  #set(id: number, next: number): void {
    const previous = this.status[id]!;
    if (previous === CLAIMED && next !== CLAIMED) this.claims.delete(id);
    if (previous === FAILED && next !== FAILED) this.failures.delete(id);
    if (previous === next) return;
    const index = shardOf(id);
    const shard = this.shardCounts[index]!;
    this.counts[COUNT_KEYS[previous]!]--;
    this.counts[COUNT_KEYS[next]!]++;
    shard[COUNT_KEYS[previous]!]--;
    shard[COUNT_KEYS[next]!]++;
    this.status[id] = next;
    if (next === TODO) {
      const queue = this.#queues[index]!;
      queue.ids.push(id);
      if (index < this.#scan) this.#scan = index;
      // Keep the candidate list from growing without bound.
      if (queue.head > 1024 && queue.head * 2 > queue.ids.length) {
        queue.ids = queue.ids.slice(queue.head);
        queue.head = 0;
      }
    }
  }
}

/** Record types that change a param. */
const CHANGES = { c: 1, e: 1, r: 1, n: 1, d: 1, f: 1, s: 1 };
/** Record types that carry no param change: header, end, compaction. */
const IGNORED = { h: 1, z: 1, g: 1, k: 1 };
