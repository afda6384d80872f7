/**
 * What each pickle opcode does (protocols 0 to 5), for the opcodes that the
 * values of a sweep need: a table from opcode to a step of the pickle
 * machine, which reads its arguments from the bytes and works on the stack
 * and the memo. STOP, which ends a pickle, is the reader's (see
 * `pickle_read.ts`); an opcode missing here is refused there.
 *
 * @module
 */

import {
  callGlobal,
  construct,
  globalName,
  type PyGlobal,
} from "./_pickle_globals.ts";
import {
  isDict,
  isSequence,
  PickleError,
  type PyValue,
} from "./pickle_values.ts";

/** The MARK opcode's entry on the stack. */
export const MARK: unique symbol = Symbol("mark");

/** An entry of the pickle machine's stack. */
export type Item = PyValue | typeof MARK | PyGlobal;

/** What an opcode works on. */
export interface PickleMachine {
  /** The stack. */
  readonly stack: Item[];
  /** The memo, by key. */
  readonly memo: Map<number, Item>;
  /** Takes the next `n` bytes. */
  take(n: number): Uint8Array;
  /** Takes the next byte. */
  byte(): number;
  /** Takes an unsigned little-endian int of `n` bytes. */
  uint(n: 2 | 4 | 8): number;
  /** Takes a signed little-endian int of 4 bytes. */
  int32(): number;
  /** Takes a big-endian float of 8 bytes. */
  float64(): number;
  /** Takes a line (protocol 0's arguments), without its end. */
  line(): string;
  /** Takes `n` bytes of UTF-8 text. */
  utf8(n: number): string;
}

/** One opcode's step. */
export type Step = (m: PickleMachine) => void;

const latin1 = new TextDecoder("latin1");

/** Decodes a Python string literal's escapes (protocol 0's `STRING`). */
function unquote(text: string): string {
  const quote = text[0];
  if ((quote !== "'" && quote !== '"') || text.at(-1) !== quote) {
    throw new PickleError(`a STRING is not quoted: ${text.slice(0, 40)}`);
  }
  return text.slice(1, -1).replace(
    /\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g,
    (_, escape: string) => {
      if (escape[0] === "x") {
        return String.fromCharCode(parseInt(escape.slice(1), 16));
      }
      if (/^[0-7]/.test(escape)) {
        return String.fromCharCode(parseInt(escape, 8));
      }
      const simple: Record<string, string> = {
        n: "\n",
        r: "\r",
        t: "\t",
        "\\": "\\",
        "'": "'",
        '"': '"',
        a: "\x07",
        b: "\b",
        f: "\f",
        v: "\v",
      };
      return simple[escape] ?? `\\${escape}`;
    },
  );
}

/** Decodes protocol 0's raw-unicode-escape text. */
function rawUnicode(text: string): string {
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, short: string | undefined, long: string | undefined) =>
      String.fromCodePoint(parseInt(short ?? long!, 16)),
  );
}

/** An int from its little-endian two's complement bytes. */
function littleEndian(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) {
    value = (value << 8n) | BigInt(bytes[i]!);
  }
  if (bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return narrow(value);
}

/** A bigint as a number when it is exact as one. */
function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) &&
      value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/** Takes the top of the stack. */
export function pop(m: PickleMachine): Item {
  if (m.stack.length === 0) {
    throw new PickleError("the pickle's stack ran dry");
  }
  return m.stack.pop()!;
}

/** The top of the stack, left there. */
function top(m: PickleMachine): Item {
  if (m.stack.length === 0) {
    throw new PickleError("the pickle's stack ran dry");
  }
  return m.stack[m.stack.length - 1]!;
}

/**
 * An entry as a value. A function or class may sit in a tuple (the
 * arguments of a call); anywhere else it is refused when the value is read
 * as JSON.
 */
export function value(item: Item): PyValue {
  if (item === MARK) {
    throw new PickleError("the pickle has a MARK where a value is needed");
  }
  return item as PyValue;
}

/** Takes the entries above the topmost MARK, and the MARK. */
function popMark(m: PickleMachine): PyValue[] {
  const at = m.stack.lastIndexOf(MARK);
  if (at < 0) {
    throw new PickleError("the pickle has no MARK where one is needed");
  }
  return m.stack.splice(at).slice(1).map(value);
}

/** Items taken two by two, as a dict's entries. */
function pairs(items: PyValue[]): [PyValue, PyValue][] {
  const out: [PyValue, PyValue][] = [];
  for (let i = 0; i + 1 < items.length; i += 2) {
    out.push([items[i]!, items[i + 1]!]);
  }
  return out;
}

const push = (m: PickleMachine, item: Item) => void m.stack.push(item);
const bytes = (data: Uint8Array): PyValue => ({
  kind: "bytes",
  bytes: data.slice(),
});

/** Pushes a memo entry. */
function get(m: PickleMachine, key: number): void {
  if (!m.memo.has(key)) {
    throw new PickleError(`the pickle refers to memo ${key}, never stored`);
  }
  push(m, m.memo.get(key)!);
}

/** Pushes a tuple of the top `n` entries. */
function tupleOf(m: PickleMachine, n: number): void {
  const items = m.stack.splice(m.stack.length - n).map(value);
  if (items.length !== n) throw new PickleError("the pickle's stack ran dry");
  push(m, { kind: "tuple", items });
}

/** The steps, by opcode. */
const STEPS: Record<string, Step> = {
  "\x80": (m) => void m.byte(), // PROTO
  "\x95": (m) => void m.uint(8), // FRAME
  "(": (m) => push(m, MARK),
  "0": (m) => void pop(m),
  "1": (m) => void popMark(m),
  "2": (m) => push(m, top(m)),
  "N": (m) => push(m, null),
  "\x88": (m) => push(m, true),
  "\x89": (m) => push(m, false),
  "I": (m) => {
    const line = m.line();
    if (line === "01") push(m, true);
    else if (line === "00") push(m, false);
    else push(m, narrow(BigInt(line)));
  },
  "J": (m) => push(m, m.int32()),
  "K": (m) => push(m, m.byte()),
  "M": (m) => push(m, m.uint(2)),
  "L": (m) => {
    const line = m.line();
    push(m, narrow(BigInt(line.endsWith("L") ? line.slice(0, -1) : line)));
  },
  "\x8a": (m) => push(m, littleEndian(m.take(m.byte()))),
  "\x8b": (m) => push(m, littleEndian(m.take(m.uint(4)))),
  "F": (m) => push(m, parseFloat(m.line())),
  "G": (m) => push(m, m.float64()),
  "S": (m) => push(m, unquote(m.line())),
  "T": (m) => push(m, latin1.decode(m.take(m.uint(4)))),
  "U": (m) => push(m, latin1.decode(m.take(m.byte()))),
  "V": (m) => push(m, rawUnicode(m.line())),
  "X": (m) => push(m, m.utf8(m.uint(4))),
  "\x8c": (m) => push(m, m.utf8(m.byte())),
  "\x8d": (m) => push(m, m.utf8(m.uint(8))),
  "B": (m) => push(m, bytes(m.take(m.uint(4)))),
  "C": (m) => push(m, bytes(m.take(m.byte()))),
  "\x8e": (m) => push(m, bytes(m.take(m.uint(8)))),
  ")": (m) => push(m, { kind: "tuple", items: [] }),
  "t": (m) => push(m, { kind: "tuple", items: popMark(m) }),
  "\x85": (m) => tupleOf(m, 1),
  "\x86": (m) => tupleOf(m, 2),
  "\x87": (m) => tupleOf(m, 3),
  "]": (m) => push(m, { kind: "list", items: [] }),
  "l": (m) => push(m, { kind: "list", items: popMark(m) }),
  "a": (m) => {
    const item = value(pop(m));
    const list = top(m);
    if (!isSequence(list, "list")) {
      throw new PickleError("APPEND to a non-list");
    }
    list.items.push(item);
  },
  "e": (m) => {
    const items = popMark(m);
    const list = top(m);
    if (!isSequence(list, "list")) {
      throw new PickleError("APPENDS to a non-list");
    }
    list.items.push(...items);
  },
  "}": (m) => push(m, { kind: "dict", entries: [] }),
  "d": (m) => push(m, { kind: "dict", entries: pairs(popMark(m)) }),
  "s": (m) => {
    const item = value(pop(m));
    const key = value(pop(m));
    const dict = top(m);
    if (!isDict(dict)) throw new PickleError("SETITEM to a non-dict");
    dict.entries.push([key, item]);
  },
  "u": (m) => {
    const items = popMark(m);
    const dict = top(m);
    if (!isDict(dict)) throw new PickleError("SETITEMS to a non-dict");
    dict.entries.push(...pairs(items));
  },
  "\x8f": (m) => push(m, { kind: "set", items: [] }),
  "\x90": (m) => {
    const items = popMark(m);
    const set = top(m);
    if (!isSequence(set, "set")) throw new PickleError("ADDITEMS to a non-set");
    set.items.push(...items);
  },
  "\x91": (m) => push(m, { kind: "frozenset", items: popMark(m) }),
  "c": (m) => {
    const module = m.line();
    push(m, globalName(module, m.line()));
  },
  "\x93": (m) => {
    const name = value(pop(m));
    const module = value(pop(m));
    if (typeof name !== "string" || typeof module !== "string") {
      throw new PickleError("STACK_GLOBAL needs two strings");
    }
    push(m, globalName(module, name));
  },
  "R": (m) => {
    const args = value(pop(m));
    const callable = pop(m);
    push(m, callGlobal(callable, args));
  },
  "\x81": (m) => { // NEWOBJ
    const args = value(pop(m));
    const cls = pop(m);
    push(m, construct(cls, args));
  },
  "\x92": (m) => { // NEWOBJ_EX
    pop(m);
    const args = value(pop(m));
    const cls = pop(m);
    push(m, construct(cls, args));
  },
  // BUILD: a HashableDict's attributes; they take no part in equality.
  "b": (m) => void pop(m),
  "p": (m) => void m.memo.set(Number(m.line()), top(m)),
  "q": (m) => void m.memo.set(m.byte(), top(m)),
  "r": (m) => void m.memo.set(m.uint(4), top(m)),
  "\x94": (m) => void m.memo.set(m.memo.size, top(m)),
  "g": (m) => get(m, Number(m.line())),
  "h": (m) => get(m, m.byte()),
  "j": (m) => get(m, m.uint(4)),
};

/** The step of each opcode by its byte; undefined for those not read. */
export const OPCODES: readonly (Step | undefined)[] = Array.from(
  { length: 256 },
  (_, code) => STEPS[String.fromCharCode(code)],
);
