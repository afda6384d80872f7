/**
 * The Python values a sweep's pickles hold, as minionize keeps them in
 * memory: None, booleans, ints, floats, strings, bytes, tuples, lists, sets,
 * frozensets, dicts and execo's `HashableDict`, each keeping its Python type
 * (a tuple is not a list, a `HashableDict` not a dict), so that what
 * minionize writes back is equal, for Python, to what it read. Also the
 * errors of reading them.
 *
 * @module
 */

/** A Python value, as a pickle holds it. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyBytes
  | PySequence
  | PyDict
  | PyMarker;

/** Python `bytes`. */
export interface PyBytes {
  /** The kind of value. */
  kind: "bytes";
  /** Its bytes. */
  bytes: Uint8Array;
}

/** A tuple, list, set or frozenset. */
export interface PySequence {
  /** Which of them. */
  kind: "tuple" | "list" | "set" | "frozenset";
  /** Its items, in the pickle's order. */
  items: PyValue[];
}

/** A dict, or an instance of a dict subclass (execo's `HashableDict`). */
export interface PyDict {
  /** The kind of value. */
  kind: "dict";
  /** `module.name` of the subclass; none for a plain dict. */
  cls?: string;
  /** Its items, in the pickle's order. */
  entries: [PyValue, PyValue][];
}

/** What minionize writes to stop Python minions: a call it made. */
export interface PyMarker {
  /** The kind of value. */
  kind: "marker";
  /** The function called, `module.name`. */
  call: string;
}

/** The subclass of dict that execo's `sweep()` makes params of. */
export const HASHABLE_DICT = "execo_engine.sweep.HashableDict";

/** The calls minionize's own marker pickles make. */
export const MARKER_CALLS: ReadonlySet<string> = new Set([
  "sys.exit",
  "builtins.eval",
]);

/** A pickle that cannot be read, or holds what a sweep cannot. */
export class PickleError extends Error {
  /**
   * Makes the error.
   *
   * @param message what is wrong
   */
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/** A pickle that ends before its STOP: a torn write, or more to come. */
export class PickleTruncated extends PickleError {}

/** Whether `value` is one of the sequence kinds (or that `kind`). */
export function isSequence(value: unknown, kind?: string): value is PySequence {
  return typeof value === "object" && value !== null &&
    "items" in value &&
    (kind === undefined || (value as PySequence).kind === kind);
}

/** Whether `value` is a dict (of any class). */
export function isDict(value: unknown): value is PyDict {
  return typeof value === "object" && value !== null &&
    (value as PyDict).kind === "dict";
}
