/**
 * Python values of an execo sweep as JSON params, and back. A param's JSON
 * drops what JSON cannot tell (a tuple and a frozenset are both arrays, an
 * int key is a string key); to write a param back so that Python finds it
 * equal to its own, {@linkcode pyFromJson} makes arrays tuples and objects
 * `HashableDict`s, as execo's `sweep()` does, and a param whose Python value
 * is of another shape keeps that value (see {@linkcode needsOriginal}).
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { HASHABLE_DICT, type PyValue } from "./pickle_values.ts";

/** A Python value that JSON cannot hold. */
export class NotJsonError extends Error {
  /**
   * Makes the error.
   *
   * @param message what cannot be held
   */
  constructor(message: string) {
    super(message);
    this.name = "NotJsonError";
  }
}

/**
 * A Python value as JSON: tuples, lists, sets and frozensets as arrays,
 * dicts as objects (keys as text), numbers as numbers.
 *
 * @throws {NotJsonError} for bytes, ints beyond 2^53, NaN and infinities
 */
export function jsonFromPy(value: PyValue): JsonValue {
  if (
    value === null || typeof value === "boolean" || typeof value === "string"
  ) {
    return value;
  }
  if (typeof value === "bigint") {
    throw new NotJsonError(
      `it holds the integer ${value}, beyond 2^53, which JSON cannot hold exactly`,
    );
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new NotJsonError(
        `it holds the number ${value}, which JSON cannot hold`,
      );
    }
    return value;
  }
  switch (value.kind) {
    case "bytes":
      throw new NotJsonError("it holds bytes, which JSON cannot hold");
    case "marker":
      throw new NotJsonError("it holds minionize's own stop marker");
    case "dict": {
      const out: Record<string, JsonValue> = {};
      for (const [key, item] of value.entries) {
        out[keyText(key)] = jsonFromPy(item);
      }
      return out;
    }
    case "tuple":
    case "list":
    case "set":
    case "frozenset":
      return value.items.map(jsonFromPy);
    default:
      throw new NotJsonError("it holds a function or class");
  }
}

function keyText(key: PyValue): string {
  if (typeof key === "string") return key;
  const json = jsonFromPy(key);
  return typeof json === "string" ? json : JSON.stringify(json);
}

/**
 * The Python value minionize writes for a JSON param: arrays as tuples,
 * objects as `HashableDict`s, whole numbers as ints.
 */
export function pyFromJson(value: JsonValue): PyValue {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    return { kind: "tuple", items: value.map(pyFromJson) };
  }
  return {
    kind: "dict",
    cls: HASHABLE_DICT,
    entries: Object.keys(value).sort().map((
      key,
    ) => [key, pyFromJson(value[key]!)]),
  };
}

/**
 * Whether {@linkcode pyFromJson} of the value's JSON would not be equal to
 * it in Python: it holds a list, set, frozenset, plain dict, a dict with
 * keys that are not strings, or bytes. (Numbers never matter: Python finds
 * 1, 1.0 and True equal, with one hash.)
 */
export function needsOriginal(value: PyValue): boolean {
  if (value === null || typeof value !== "object") return false;
  switch (value.kind) {
    case "tuple":
      return value.items.some(needsOriginal);
    case "dict":
      return value.cls !== HASHABLE_DICT ||
        value.entries.some(([key, item]) =>
          typeof key !== "string" || needsOriginal(item)
        );
    default:
      return true;
  }
}
