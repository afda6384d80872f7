/**
 * The state of a sweep that Python execo's files hold, as minionize sees it
 * while Python minions may share the directory (see `execo_store.ts`):
 *
 * - `sweeps`: a pickled set of params, read once (ids follow its order);
 * - `done`: pickles one after the other, one per param finished, by
 *   anybody; minionize's failed params are there too, so that Python never
 *   runs them again;
 * - `inprogress`: one pickled set of the params held, by anybody;
 * - `minionize.claims`: minionize's own records beside them, in the
 *   journal's record format: who of minionize holds what (host, pid, lease
 *   renewals), releases, retries and why a param failed.
 *
 * A param in `inprogress` with no claim of minionize is held by a Python
 * minion: an external claim, with no lease (execo never gives one back).
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { canonicalJson } from "../../core/param.ts";
import type { LogRecord } from "./log.ts";
import { PickleReader } from "./pickle_read.ts";
import { PickleTruncated, type PyValue } from "./pickle_values.ts";
import { jsonFromPy, needsOriginal, pyFromJson } from "./py_json.ts";
import { SweepState } from "./state.ts";
import { CLAIMED, DONE, FAILED, TODO } from "./param_state.ts";

/** execo's file of params. */
export const EXECO_SWEEPS = "sweeps";
/** execo's stream of params done. */
export const EXECO_DONE = "done";
/** execo's set of params in progress. */
export const EXECO_IN_PROGRESS = "inprogress";
/** minionize's claims beside execo's files. */
export const CLAIMS = "minionize.claims";
/** How a Python minion's claim is shown. */
export const PYTHON_HOLDER = "a Python minion";

/** A file of execo's that does not read. */
export class ExecoFileError extends Error {
  /** The file's name in the directory. */
  readonly file: string;

  /**
   * Makes the error.
   *
   * @param file the file's name
   * @param message what is wrong
   */
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExecoFileError";
    this.file = file;
  }
}

/**
 * Reads the first pickle of `bytes`, and says whether it is minionize's
 * marker (then the file's own content, if any, is the next pickle).
 */
export function skipMarker(
  bytes: Uint8Array,
): { marker: boolean; offset: number } {
  if (bytes.length === 0) return { marker: false, offset: 0 };
  const reader = new PickleReader(bytes);
  try {
    const first = reader.read();
    const inner = typeof first === "object" && first !== null &&
        "kind" in first && first.kind === "tuple" && first.items.length === 1
      ? first.items[0]
      : first;
    if (
      typeof inner === "object" && inner !== null && "kind" in inner &&
      inner.kind === "marker"
    ) {
      return { marker: true, offset: reader.offset };
    }
  } catch {
    // not a marker; the caller reads it and says what is wrong
  }
  return { marker: false, offset: 0 };
}

/** The text of a Python value as a param, and whether it must be kept. */
function textOf(value: PyValue): string {
  return canonicalJson(jsonFromPy(value) as JsonValue);
}

/** Where a param's first sighting in `inprogress` was, for external claims. */
const EXTERNAL = "execo:";

/** The mirror of an execo sweep in memory. */
export class ExecoMirror {
  /** The state: ids in the order of `sweeps`. */
  readonly state: SweepState = new SweepState();
  /** Python values that their JSON would not give back, by id. */
  readonly originals = new Map<number, PyValue>();
  /** Entries of `inprogress` that are not params of this sweep (kept). */
  foreign: PyValue[] = [];
  /** Bytes of `done` read. */
  doneOffset = 0;
  /** Bytes of `minionize.claims` read. */
  claimsOffset = 0;
  /** `inprogress` as last read or written. */
  inProgressBytes: Uint8Array | undefined;
  /** Why minionize's failed params failed, by text (done comes after). */
  #failures = new Map<string, { e: string; w: number; o: string }>();

  /**
   * The mirror of a `sweeps` file.
   *
   * @throws {ExecoFileError} when it does not read as a set of params
   */
  static fromSweeps(bytes: Uint8Array): ExecoMirror {
    const mirror = new ExecoMirror();
    // After a conversion, execo's own pickle follows minionize's marker.
    const { offset } = skipMarker(bytes);
    let value: PyValue;
    try {
      value = new PickleReader(bytes, offset).read();
    } catch (error) {
      throw new ExecoFileError(
        EXECO_SWEEPS,
        bytes.length === offset
          ? "it holds no params (a Python minion that found no sweep there may have left it empty)"
          : (error as Error).message,
        { cause: error },
      );
    }
    if (
      typeof value !== "object" || value === null || !("kind" in value) ||
      !["set", "frozenset", "list", "tuple"].includes(value.kind)
    ) {
      throw new ExecoFileError(
        EXECO_SWEEPS,
        "it is not a pickled set of params",
      );
    }
    for (const item of (value as { items: PyValue[] }).items) {
      let text: string;
      try {
        text = textOf(item);
      } catch (error) {
        throw new ExecoFileError(EXECO_SWEEPS, (error as Error).message, {
          cause: error,
        });
      }
      if (mirror.state.ids.has(text)) continue; // 1 and 1.0 are one param
      const id = mirror.state.size;
      mirror.state.apply({ type: "a", id, body: text });
      if (needsOriginal(item)) mirror.originals.set(id, item);
    }
    return mirror;
  }

  /** The Python value to write for param `id`. */
  pyValue(id: number): PyValue {
    return this.originals.get(id) ??
      pyFromJson(JSON.parse(this.state.texts[id]!) as JsonValue);
  }

  /** Applies records of `minionize.claims`. */
  applyClaims(records: LogRecord[]): void {
    const { state } = this;
    for (const record of records) {
      if (record.type === "h") continue;
      const body = JSON.parse(record.body) as {
        t: string;
        o: string;
        e?: string;
        w?: number;
      };
      const id = state.ids.get(body.t);
      if (id === undefined) continue;
      const status = state.status[id];
      if (record.type === "f") {
        this.#failures.set(body.t, {
          e: body.e ?? "",
          w: body.w ?? 0,
          o: body.o,
        });
        continue;
      }
      if (record.type === "c") {
        if (status === DONE || status === FAILED) continue;
        const held = state.claims.get(id);
        if (held?.external) this.#release(id);
      }
      state.apply({ type: record.type, id, body: record.body });
    }
  }

  /**
   * Applies the pickles of `done` found in `bytes` (the file from
   * {@linkcode doneOffset} on).
   *
   * @returns how many bytes at the end are a pickle cut short (a write under
   * way, or one a crash tore)
   * @throws {ExecoFileError} when a pickle holds what a sweep cannot
   */
  applyDone(bytes: Uint8Array): number {
    const reader = new PickleReader(bytes);
    while (reader.more) {
      let value: PyValue;
      try {
        value = reader.read();
      } catch (error) {
        const rest = bytes.subarray(reader.offset);
        if (
          error instanceof PickleTruncated || rest.every((byte) => byte === 0)
        ) {
          // A write under way, or torn by a crash (execo cuts it off).
          this.doneOffset += reader.offset;
          return rest.length;
        }
        throw new ExecoFileError(
          EXECO_DONE,
          `byte ${this.doneOffset + reader.offset}: ${
            (error as Error).message
          }`,
          { cause: error },
        );
      }
      if (
        typeof value === "object" && value !== null && "kind" in value &&
        value.kind === "marker"
      ) {
        continue;
      }
      let text: string;
      try {
        text = textOf(value);
      } catch {
        continue; // not a param of ours: another sweep's, kept as it is
      }
      this.#finish(text);
    }
    this.doneOffset += bytes.length;
    return 0;
  }

  /** Marks the param of `text` done (or failed, if minionize failed it). */
  #finish(text: string): void {
    const { state } = this;
    const id = state.ids.get(text);
    if (
      id === undefined || state.status[id] === DONE ||
      state.status[id] === FAILED
    ) return;
    const failure = this.#failures.get(text);
    const claim = state.claims.get(id);
    const owner = claim?.owner ?? failure?.o ?? "";
    if (failure) {
      state.apply({
        type: "f",
        id,
        body: JSON.stringify({ o: owner, w: failure.w, e: failure.e }),
      });
    } else state.apply({ type: "d", id, body: JSON.stringify({ o: owner }) });
  }

  /**
   * Applies `inprogress` (the whole file): params held that minionize does
   * not hold are held by Python minions; claims that are not there any
   * more were let go (or the file was emptied, as execo's doc suggests).
   *
   * @returns whether the file starts with minionize's marker (the sweep
   * was moved to minionize's format)
   */
  applyInProgress(bytes: Uint8Array, now: number, pastMarker = false): boolean {
    const { state } = this;
    const { marker, offset } = skipMarker(bytes);
    if (marker && !pastMarker) return true;
    const same = this.inProgressBytes !== undefined &&
      bytes.length === this.inProgressBytes.length &&
      bytes.every((byte, i) => byte === this.inProgressBytes![i]);
    this.inProgressBytes = bytes;
    if (same) return marker;
    const held = new Set<number>();
    const foreign: PyValue[] = [];
    for (const item of readSet(bytes, offset)) {
      let id: number | undefined;
      try {
        id = state.ids.get(textOf(item));
      } catch {
        id = undefined;
      }
      if (id === undefined) foreign.push(item);
      else held.add(id);
    }
    this.foreign = foreign;
    for (const id of [...state.claims.keys()]) {
      if (!held.has(id)) this.#release(id);
    }
    for (const id of held) {
      if (state.status[id] !== TODO) continue;
      state.apply({
        type: "c",
        id,
        body: JSON.stringify({
          o: `${EXTERNAL}${id}`,
          h: PYTHON_HOLDER,
          p: 0,
          x: 0,
          w: now,
          k: 1,
        }),
      });
    }
    return marker;
  }

  #release(id: number): void {
    const claim = this.state.claims.get(id);
    if (!claim || this.state.status[id] !== CLAIMED) return;
    this.state.apply({
      type: "r",
      id,
      body: JSON.stringify({ o: claim.owner }),
    });
  }

  /** The Python values `inprogress` must hold now: every claim, and what was foreign. */
  inProgressValues(): PyValue[] {
    const out: PyValue[] = [];
    for (const id of this.state.claims.keys()) out.push(this.pyValue(id));
    out.push(...this.foreign);
    return out;
  }
}

/**
 * The items of the pickled set that `bytes` holds from `offset`; an empty
 * or unreadable file is an empty set, as execo takes it.
 */
function readSet(bytes: Uint8Array, offset: number): PyValue[] {
  if (bytes.length <= offset) return [];
  try {
    const value = new PickleReader(bytes, offset).read();
    if (typeof value === "object" && value !== null && "items" in value) {
      return value.items;
    }
  } catch {
    // execo empties such a file at its next step
  }
  return [];
}
