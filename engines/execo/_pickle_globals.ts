/**
 * The classes and functions a pickle of a sweep's values may name, and what
 * calling them gives: `set`, `frozenset`, `dict`, execo's `HashableDict`,
 * bytes through `_codecs.encode`, and the two calls minionize writes itself
 * to stop Python minions (read as a marker). Any other name is refused:
 * reading a pickle never runs anything.
 *
 * @module
 */

import {
  HASHABLE_DICT,
  isDict,
  isSequence,
  MARKER_CALLS,
  PickleError,
  type PyValue,
} from "./pickle_values.ts";

/** A class or function named by a pickle (`GLOBAL`, `STACK_GLOBAL`). */
export interface PyGlobal {
  /** Its `module.name`. */
  global: string;
}

const BUILTIN_MODULES = new Set(["builtins", "__builtin__"]);

/** `module.name`, with Python 2's module names read as Python 3's. */
export function globalName(module: string, name: string): PyGlobal {
  if (BUILTIN_MODULES.has(module)) return { global: `builtins.${name}` };
  if (module === "copy_reg") return { global: `copyreg.${name}` };
  return { global: `${module}.${name}` };
}

/** Whether `item` is a class or function named by the pickle. */
export function isGlobal(item: unknown): item is PyGlobal {
  return typeof item === "object" && item !== null && "global" in item;
}

/**
 * REDUCE: the few calls that build a sweep's values.
 *
 * @throws {PickleError} for anything else
 */
export function callGlobal(callable: unknown, args: PyValue): PyValue {
  if (!isGlobal(callable)) {
    throw new PickleError("REDUCE of something that is not a function");
  }
  const name = callable.global;
  const items = isSequence(args, "tuple") ? args.items : [];
  if (MARKER_CALLS.has(name)) return { kind: "marker", call: name };
  if (name === "builtins.set" || name === "builtins.frozenset") {
    const source = items[0];
    const members = source === undefined
      ? []
      : isSequence(source)
      ? source.items
      : undefined;
    if (!members) {
      throw new PickleError(`${name} of something that is not a list`);
    }
    return {
      kind: name === "builtins.set" ? "set" : "frozenset",
      items: [...members],
    };
  }
  if (name === "copyreg._reconstructor") {
    const [cls, , state] = items;
    return construct(cls, { kind: "tuple", items: [] }, state);
  }
  if (name === "_codecs.encode") {
    const [text] = items;
    if (typeof text !== "string") {
      throw new PickleError("bytes built from a non-string");
    }
    return {
      kind: "bytes",
      bytes: Uint8Array.from(text, (c) => c.charCodeAt(0)),
    };
  }
  throw new PickleError(
    `it calls ${name}, which is not how a sweep's values are made; only ints, floats, strings, booleans, None, tuples, lists, sets, dicts and execo's HashableDict are read`,
  );
}

/**
 * NEWOBJ (and protocol 0's reconstructor): an instance of a dict subclass.
 *
 * @throws {PickleError} for any other class
 */
export function construct(
  cls: unknown,
  _args: PyValue,
  state?: PyValue,
): PyValue {
  const name = isGlobal(cls) ? cls.global : undefined;
  if (name === HASHABLE_DICT || name === "builtins.dict") {
    const entries = isDict(state) ? [...state.entries] : [];
    return name === "builtins.dict"
      ? { kind: "dict", entries }
      : { kind: "dict", cls: HASHABLE_DICT, entries };
  }
  if (name === "builtins.set" || name === "builtins.frozenset") {
    return { kind: name === "builtins.set" ? "set" : "frozenset", items: [] };
  }
  throw new PickleError(
    `it holds a ${
      name ?? "value"
    } object, which is not a plain value; only ints, floats, strings, booleans, None, tuples, lists, sets, dicts and execo's HashableDict are read`,
  );
}
