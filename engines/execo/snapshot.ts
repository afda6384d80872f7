/**
 * Snapshots of a sweep: an index file per generation and shard files that
 * hold the params, all immutable once written (under a temporary name,
 * synced, then renamed).
 *
 * The index of generation G (`minionize.index.G`) says up to which byte of
 * the journal it covers, lists one shard file per {@linkcode SHARD_SIZE}
 * params with that shard's counts, and holds the state of every claimed
 * param. A shard file (`minionize.shard.W.K`, written by generation W)
 * holds its params' texts and states. A later generation writes only the
 * shards that changed and reuses the other files, so a snapshot costs what
 * changed, and a minion joining a big sweep reads the index and the few
 * shards it needs.
 *
 * @module
 */

import {
  INDEX_PREFIX,
  path,
  SHARD_PREFIX,
  SweepError,
  syncDirectory,
  writeFileAtomically,
} from "./files.ts";
import { encodeRecord, scanRecords } from "./log.ts";
import type { SweepState } from "./state.ts";
import {
  type Counts,
  type ParamState,
  SHARD_SIZE,
  type ShardContent,
  shardOf,
  TODO,
} from "./param_state.ts";

/** One shard, as an index lists it. */
export interface ShardEntry {
  /** The shard file's name. */
  file: string;
  /** Its params' counts by status. */
  counts: Counts;
}

/** A snapshot's index. */
export interface SnapshotIndex {
  /** Its generation. */
  generation: number;
  /** The journal offset it covers: records from there on come after it. */
  covers: number;
  /** How many params the sweep held. */
  size: number;
  /** Its shards, in order. */
  shards: ShardEntry[];
  /** The state of every claimed param, by id. */
  claims: Map<number, ParamState>;
  /** Bytes in the index file. */
  bytes: number;
}

const INDEX_FORMAT = "minionize-index";
const SHARD_FORMAT = "minionize-shard";

/** Generations of the snapshot indexes in `dir`, newest first. */
export function indexGenerations(dir: string): number[] {
  const generations: number[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.startsWith(INDEX_PREFIX)) continue;
    const rest = entry.name.slice(INDEX_PREFIX.length);
    if (/^[0-9]+$/.test(rest)) generations.push(Number(rest));
  }
  return generations.sort((a, b) => b - a);
}

/** Reads a whole file, or undefined when it is not there. */
function readIfThere(file: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new SweepError(
      "io",
      `cannot read ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Reads index `generation` of `dir`: undefined when the file is not there,
 * a `corrupt` error when it is not whole.
 *
 * @throws {SweepError} when it is damaged or cannot be read
 */
export function readIndex(
  dir: string,
  generation: number,
): SnapshotIndex | undefined {
  const name = path(dir, `${INDEX_PREFIX}${generation}`);
  const bytes = readIfThere(name);
  if (bytes === undefined) return undefined;
  const damaged = (why: string) =>
    new SweepError(
      "corrupt",
      `${name} is damaged (${why}); remove it, and an older snapshot is used`,
    );
  const scan = scanRecords(bytes);
  if (scan.invalidAt !== undefined) {
    throw damaged(`bytes that are not a record at byte ${scan.invalidAt}`);
  }
  const [head, ...rest] = scan.records;
  const tail = rest.pop();
  if (head?.type !== "h" || tail?.type !== "z") throw damaged("incomplete");
  const header = JSON.parse(head.body) as {
    format?: string;
    covers?: number;
    size?: number;
    shardSize?: number;
  };
  if (
    header.format !== INDEX_FORMAT || head.id !== generation ||
    header.shardSize !== SHARD_SIZE || !Number.isSafeInteger(header.covers) ||
    !Number.isSafeInteger(header.size)
  ) throw damaged("not an index of this format");
  const shards: ShardEntry[] = [];
  const claims = new Map<number, ParamState>();
  for (const record of rest) {
    const body = JSON.parse(record.body);
    if (record.type === "k" && record.id === shards.length) {
      shards.push({
        file: String(body.f),
        counts: { todo: body.t, claimed: body.c, done: body.d, failed: body.x },
      });
    } else if (record.type === "s" && body.st === 1) {
      claims.set(record.id, body as ParamState);
    } else {
      throw damaged(`an unexpected '${record.type}' record`);
    }
  }
  const size = header.size!;
  if (
    shards.length !== Math.ceil(size / SHARD_SIZE) ||
    tail.id !== size
  ) throw damaged("its shards do not add up to its params");
  return {
    generation,
    covers: header.covers!,
    size,
    shards,
    claims,
    bytes: bytes.length,
  };
}

/**
 * The newest whole index of `dir` that covers no more than `upTo` bytes of
 * the journal, or undefined when there is none. A damaged index is passed
 * over for an older one (a snapshot is never the only copy of anything:
 * the journal holds every record since the one before).
 *
 * @throws {SweepError} when the directory cannot be read
 */
export function newestIndex(
  dir: string,
  upTo = Infinity,
): SnapshotIndex | undefined {
  let generations: number[];
  try {
    generations = indexGenerations(dir);
  } catch (error) {
    throw new SweepError(
      "io",
      `cannot list ${dir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  for (const generation of generations) {
    let index: SnapshotIndex | undefined;
    try {
      index = readIndex(dir, generation);
    } catch (error) {
      if (error instanceof SweepError && error.problem === "corrupt") continue;
      throw error;
    }
    if (index && index.covers <= upTo) return index;
  }
  return undefined;
}

/**
 * Reads shard `shard` of `index`.
 *
 * @throws {SweepError} when its file is missing or damaged
 */
export function readShard(
  dir: string,
  index: SnapshotIndex,
  shard: number,
): ShardContent {
  const entry = index.shards[shard];
  if (!entry) throw new SweepError("corrupt", `no shard ${shard} in the index`);
  const name = path(dir, entry.file);
  const bytes = readIfThere(name);
  if (bytes === undefined) {
    throw new SweepError("not-a-sweep", `${name} is gone`);
  }
  const scan = scanRecords(bytes);
  const records = scan.records;
  const first = shard * SHARD_SIZE;
  const head = records[0];
  const tail = records.at(-1);
  if (
    scan.invalidAt !== undefined || head?.type !== "h" ||
    head.id !== shard || tail?.type !== "z" ||
    (JSON.parse(head.body) as { format?: string }).format !== SHARD_FORMAT
  ) {
    throw new SweepError(
      "corrupt",
      `${name} is damaged or incomplete; restore the sweep from a copy`,
    );
  }
  const texts: string[] = [];
  const states = new Map<number, ParamState>();
  for (let i = 1; i < records.length - 1; i++) {
    const record = records[i]!;
    if (record.type === "a" && record.id === first + texts.length) {
      texts.push(record.body);
    } else if (record.type === "s" && record.id === first + texts.length - 1) {
      states.set(record.id, JSON.parse(record.body) as ParamState);
    } else {
      throw new SweepError(
        "corrupt",
        `${name} holds a record out of place; restore the sweep from a copy`,
      );
    }
  }
  if (texts.length !== tail.id) {
    throw new SweepError("corrupt", `${name} is incomplete`);
  }
  return { texts, states };
}

/** Writes shard `shard` of `state` (loaded) under `name`. */
function writeShard(
  dir: string,
  name: string,
  state: SweepState,
  shard: number,
) {
  const first = shard * SHARD_SIZE;
  const end = Math.min(first + SHARD_SIZE, state.size);
  writeFileAtomically(path(dir, name), (push) => {
    push(
      encodeRecord("h", shard, JSON.stringify({ format: SHARD_FORMAT, first })),
    );
    for (let id = first; id < end; id++) {
      push(encodeRecord("a", id, state.texts[id]!));
      if (state.status[id] !== TODO || state.attempts[id] !== 0) {
        push(encodeRecord("s", id, JSON.stringify(state.paramState(id))));
      }
    }
    push(encodeRecord("z", end - first, "{}"));
  });
}

/**
 * Writes snapshot `generation` of `state`, which must be the state at
 * journal offset `covers`. Shards that nothing changed since `base` was
 * taken reuse its files; the others are written anew.
 *
 * @returns the index written
 * @throws {SweepError} when a file cannot be written (no file is left
 * half-written; `full` when out of space)
 */
export function writeSnapshot(
  dir: string,
  generation: number,
  covers: number,
  state: SweepState,
  base?: SnapshotIndex,
): SnapshotIndex {
  const shards: ShardEntry[] = [];
  for (let shard = 0; shard < state.shardCounts.length; shard++) {
    const reused = base?.shards[shard];
    // Every change to the shard is in `base` when none came after it.
    let file: string;
    if (reused && state.touched[shard]! <= base!.covers) {
      file = reused.file;
    } else {
      file = `${SHARD_PREFIX}${generation}.${shard}`;
      writeShard(dir, file, state, shard);
    }
    shards.push({ file, counts: { ...state.shardCounts[shard]! } });
  }
  const name = path(dir, `${INDEX_PREFIX}${generation}`);
  const bytes = writeFileAtomically(name, (push) => {
    push(encodeRecord(
      "h",
      generation,
      JSON.stringify({
        format: INDEX_FORMAT,
        covers,
        size: state.size,
        shardSize: SHARD_SIZE,
      }),
    ));
    shards.forEach((entry, shard) => {
      const { todo: t, claimed: c, done: d, failed: x } = entry.counts;
      push(
        encodeRecord("k", shard, JSON.stringify({ f: entry.file, t, c, d, x })),
      );
    });
    for (const id of [...state.claims.keys()].sort((a, b) => a - b)) {
      push(encodeRecord("s", id, JSON.stringify(state.claimState(id))));
    }
    push(encodeRecord("z", state.size, "{}"));
  });
  syncDirectory(dir);
  return {
    generation,
    covers,
    size: state.size,
    shards,
    claims: new Map(
      [...state.claims.keys()].map((id) => [id, state.claimState(id)]),
    ),
    bytes,
  };
}

/**
 * Removes the snapshot files that none of the `keep` newest generations
 * uses. Minions that are slow to catch up may still read the older of them.
 */
export function removeStale(dir: string, keep: number): void {
  const generations = indexGenerations(dir);
  const kept = generations.slice(0, keep);
  if (kept.length < keep) return;
  const used = new Set<string>();
  for (const generation of kept) {
    const index = readIndex(dir, generation);
    if (!index) return; // listed but gone: another process is cleaning
    for (const shard of index.shards) used.add(shard.file);
  }
  const oldest = kept.at(-1)!;
  for (const entry of Deno.readDirSync(dir)) {
    const { name } = entry;
    let stale = false;
    if (name.startsWith(INDEX_PREFIX)) {
      const generation = Number(name.slice(INDEX_PREFIX.length));
      stale = Number.isSafeInteger(generation) && generation < oldest;
    } else if (name.startsWith(SHARD_PREFIX) && !name.includes(".tmp")) {
      const generation = Number(name.slice(SHARD_PREFIX.length).split(".")[0]);
      stale = generation < oldest && !used.has(name);
    }
    if (!stale) continue;
    try {
      Deno.removeSync(path(dir, name));
    } catch {
      // another process removed it first
    }
  }
}

/** The shard that holds param `id`. */
export { shardOf };
