/**
 * Reads a sweep written by Python execo's `ParamSweeper`: a directory with a
 * pickled set of params (`sweeps`), the params done as pickles one after the
 * other (`done`, maybe ending with a torn one, which execo ignores too) and a
 * pickled set of params in progress (`inprogress`). Params are ints, floats,
 * strings, booleans, None, tuples, lists and dicts, execo's `HashableDict`
 * included; they become JSON values.
 *
 * @module
 */

import { BufferReader, Parser } from "pickleparser";
import type { JsonValue } from "../../core/contracts.ts";
import { canonicalJson } from "../../core/param.ts";
import { CLAIMED, DONE, type ParamState } from "./state.ts";
import type { InitialState } from "./store.ts";
import { SweepError } from "./store.ts";

/** The file execo keeps its params in; its presence marks an execo sweep. */
export const EXECO_SWEEPS = "sweeps";

/** A value JSON cannot hold: the import stops, the file is not torn. */
class UnsupportedValue extends Error {}

/** Stands for execo's dict subclass: its items are set on it as keys. */
class HashableDict {}

const resolver = {
  resolve(module: string, name: string) {
    if (module === "execo_engine.sweep" && name === "HashableDict") {
      return HashableDict;
    }
    throw new UnsupportedValue(
      `it holds a ${module}.${name}, which is not a plain value; only ints, floats, strings, booleans, None, tuples, lists and dicts can be imported`,
    );
  },
};

function parser(): Parser {
  return new Parser({ nameResolver: resolver, unpicklingTypeOfSet: "array" });
}

/** A Python value as JSON. */
function toJson(value: unknown): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) {
        throw new Error(`it holds the number ${value}, which JSON cannot hold`);
      }
      return value;
    case "bigint":
      if (
        value > BigInt(Number.MAX_SAFE_INTEGER) ||
        value < BigInt(Number.MIN_SAFE_INTEGER)
      ) {
        throw new Error(`it holds the integer ${value}, beyond 2^53`);
      }
      return Number(value);
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Uint8Array) {
    throw new Error("it holds bytes, which JSON cannot hold");
  }
  if (typeof value === "object") {
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = toJson(item);
    return out;
  }
  throw new Error(`it holds a ${typeof value}`);
}

async function readOptional(file: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Uint8Array();
    throw error;
  }
}

/** Canonical JSON texts of the params of a pickled set (or list). */
function setTexts(bytes: Uint8Array): string[] {
  if (bytes.length === 0) return [];
  const value = parser().parse<unknown>(bytes);
  if (!Array.isArray(value)) {
    throw new Error("it is not a pickled set of params");
  }
  return value.map((item) => canonicalJson(toJson(item)));
}

/** Whether `dir` holds an execo sweep. */
export async function isExecoSweep(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(`${dir}/${EXECO_SWEEPS}`)).isFile;
  } catch {
    return false;
  }
}

/**
 * The state of the execo sweep in `dir`: its params in the order of the
 * pickle, those execo recorded done marked done, and those in progress
 * claimed by `execo` until `now + leaseMs` (then they go back to the queue).
 *
 * @throws {SweepError} when a file cannot be read or decoded
 */
export async function readExecoSweep(
  dir: string,
  now: number,
  leaseMs: number,
): Promise<InitialState> {
  const read = async (
    name: string,
    decode: (bytes: Uint8Array) => string[],
  ) => {
    try {
      return decode(await readOptional(`${dir}/${name}`));
    } catch (error) {
      throw new SweepError(
        "corrupt",
        `cannot import the execo sweep: ${dir}/${name}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  };
  const texts = await read(EXECO_SWEEPS, setTexts);
  const done = new Set(await read("done", doneTexts));
  const inProgress = new Set(await read("inprogress", setTexts));
  const unique: string[] = [];
  const seen = new Set<string>();
  const states = new Map<number, ParamState>();
  for (const text of texts) {
    if (seen.has(text)) continue; // 1 and 1.0 are one param in JSON
    seen.add(text);
    const id = unique.push(text) - 1;
    if (done.has(text)) states.set(id, { st: DONE, a: 1 });
    else if (inProgress.has(text)) {
      states.set(id, {
        st: CLAIMED,
        a: 0,
        o: "execo",
        h: "(imported from execo)",
        p: 0,
        x: now + leaseMs,
        w: now,
      });
    }
  }
  return { texts: unique, states };
}

/** The params of execo's `done` file: pickles back to back. */
function doneTexts(bytes: Uint8Array): string[] {
  const reader = new BufferReader(bytes);
  const out: string[] = [];
  const decoder = parser();
  while (reader.hasNext()) {
    let value: unknown;
    try {
      value = decoder.read<unknown>(reader);
    } catch (error) {
      if (error instanceof UnsupportedValue) throw error;
      break; // a torn last pickle: execo drops it as well
    }
    out.push(canonicalJson(toJson(value)));
  }
  return out;
}
