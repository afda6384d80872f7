/**
 * Writes Python pickles (protocol 2, without memo, which every Python from
 * 2.3 on reads: a Python minion that cannot read a pickle in `done` cuts
 * the file there) of the values a sweep holds, and the two
 * pickles minionize writes to stop Python minions with a message of its
 * own. No maintained npm package writes pickles (the ones there, such as
 * `pickleparser` and `jpickle`, only read them), hence this file.
 *
 * @module
 */

import type { PyValue } from "./pickle_values.ts";

const encoder = new TextEncoder();

/** Bytes gathered piece by piece. */
class Bytes {
  #chunks: number[] = [];

  byte(...values: number[]): void {
    this.#chunks.push(...values);
  }

  bytes(values: Uint8Array): void {
    for (const value of values) this.#chunks.push(value);
  }

  uint32(value: number): void {
    this.byte(
      value & 0xff,
      (value >>> 8) & 0xff,
      (value >>> 16) & 0xff,
      value >>> 24,
    );
  }

  done(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}

/** An int as little-endian two's complement, as LONG1 wants it. */
function longBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array();
  const out: number[] = [];
  let rest = value;
  for (;;) {
    const byte = Number(rest & 0xffn);
    out.push(byte);
    rest >>= 8n;
    // Stop once the remaining bits are only the sign, told by the top bit.
    if ((rest === 0n && !(byte & 0x80)) || (rest === -1n && byte & 0x80)) break;
  }
  return Uint8Array.from(out);
}

function writeInt(out: Bytes, value: number | bigint): void {
  const n = typeof value === "bigint" ? value : BigInt(value);
  if (n >= 0n && n < 256n) out.byte(0x4b, Number(n)); // BININT1
  else if (n >= 0n && n < 65536n) {
    out.byte(0x4d, Number(n) & 0xff, Number(n) >> 8); // BININT2
  } else if (n >= -(1n << 31n) && n < 1n << 31n) {
    out.byte(0x4a); // BININT
    out.uint32(Number(BigInt.asUintN(32, n)));
  } else {
    const bytes = longBytes(n);
    out.byte(0x8a, bytes.length); // LONG1
    out.bytes(bytes);
  }
}

function writeString(out: Bytes, value: string): void {
  const bytes = encoder.encode(value);
  out.byte(0x58); // BINUNICODE
  out.uint32(bytes.length);
  out.bytes(bytes);
}

/** GLOBAL: `module.name`, by Python 2's module names (Python 3 maps them). */
function writeGlobal(out: Bytes, module: string, name: string): void {
  out.byte(0x63); // GLOBAL
  out.bytes(
    encoder.encode(
      `${module === "builtins" ? "__builtin__" : module}\n${name}\n`,
    ),
  );
}

/** A call of builtins `name` on one list (how protocol 2 makes sets). */
function writeCollection(out: Bytes, name: string, items: PyValue[]): void {
  writeGlobal(out, "builtins", name);
  out.byte(0x5d); // EMPTY_LIST
  appendItems(out, items, 0x65); // APPENDS
  out.byte(0x85, 0x52); // TUPLE1, REDUCE
}

function writeValue(out: Bytes, value: PyValue): void {
  if (value === null) return out.byte(0x4e); // NONE
  if (value === true) return out.byte(0x88);
  if (value === false) return out.byte(0x89);
  if (typeof value === "bigint") return writeInt(out, value);
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) {
      return writeInt(out, value);
    }
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, false);
    out.byte(0x47); // BINFLOAT
    return out.bytes(bytes);
  }
  if (typeof value === "string") return writeString(out, value);
  switch (value.kind) {
    case "bytes": // as Python 3 writes bytes in protocol 2
      writeGlobal(out, "_codecs", "encode");
      writeString(out, String.fromCharCode(...value.bytes));
      writeString(out, "latin1");
      return out.byte(0x86, 0x52); // TUPLE2, REDUCE
    case "tuple": {
      const n = value.items.length;
      if (n === 0) return out.byte(0x29); // EMPTY_TUPLE
      if (n > 3) out.byte(0x28); // MARK
      for (const item of value.items) writeValue(out, item);
      return out.byte(n > 3 ? 0x74 : 0x84 + n); // TUPLE or TUPLE1..3
    }
    case "list":
      out.byte(0x5d); // EMPTY_LIST
      return appendItems(out, value.items, 0x65); // APPENDS
    case "set":
    case "frozenset":
      return writeCollection(out, value.kind, value.items);
    case "dict": {
      if (value.cls) {
        const dot = value.cls.lastIndexOf(".");
        writeGlobal(out, value.cls.slice(0, dot), value.cls.slice(dot + 1));
        out.byte(0x29, 0x81); // EMPTY_TUPLE, NEWOBJ
      } else out.byte(0x7d); // EMPTY_DICT
      if (value.entries.length === 0) return;
      out.byte(0x28);
      for (const [key, item] of value.entries) {
        writeValue(out, key);
        writeValue(out, item);
      }
      return out.byte(0x75); // SETITEMS
    }
    case "marker":
      throw new TypeError("a marker is written by stopPickle or poisonPickle");
  }
}

function appendItems(out: Bytes, items: PyValue[], opcode: number): void {
  if (items.length === 0) return;
  out.byte(0x28);
  for (const item of items) writeValue(out, item);
  out.byte(opcode);
}

/** The pickle of `value`, as `pickle.loads` reads it back. */
export function writePickle(value: PyValue): Uint8Array {
  const out = new Bytes();
  out.byte(0x80, 2); // PROTO 2
  writeValue(out, value);
  out.byte(0x2e); // STOP
  return out.done();
}

/** A call of `module.name` on one string argument. */
function call(module: string, name: string, argument: string): Uint8Array {
  const out = new Bytes();
  out.byte(0x80, 2);
  writeGlobal(out, module, name);
  writeString(out, argument);
  out.byte(0x85, 0x52, 0x2e); // TUPLE1, REDUCE, STOP
  return out.done();
}

/**
 * A pickle whose loading makes Python exit with `message` on its standard
 * error (`sys.exit(message)`, status 1): minionize puts it first in execo's
 * `sweeps` file, which `ParamSweeper` loads outside any `try` when it
 * starts.
 */
export function stopPickle(message: string): Uint8Array {
  return call("sys", "exit", message);
}

/**
 * A pickle of a one-item tuple whose item, when Python hashes it, raises
 * `MinionizeSweepMoved` (a `RuntimeError`) with `message`. `ParamSweeper`
 * loads `inprogress` inside a bare `try` (anything raised there makes it
 * empty the file), but then hashes its items outside it, at every step and
 * at start: a Python minion that reads it stops there, before it writes
 * anything. (An `Exception`, not `SystemExit`: minionize 0.3.4 times each
 * step in a wrapper whose `finally: return` swallows anything else.)
 */
export function poisonPickle(message: string): Uint8Array {
  const expression =
    `(type("MinionizeSweepMoved", (), {"__hash__": lambda self: (_ for _ in ()).throw(type("MinionizeSweepMoved", (RuntimeError,), {})(${
      JSON.stringify(message)
    }))})(),)`;
  return call("builtins", "eval", expression);
}
