/**
 * Reads Python pickles (protocols 0 to 5) of the values Python execo keeps
 * in a sweep: None, booleans, ints, floats, strings, bytes, tuples, lists,
 * sets, frozensets, dicts and execo's `HashableDict`. Values keep their
 * Python type (a tuple is not a list, a `HashableDict` not a dict), so that
 * what minionize writes back is equal, for Python, to what it read.
 *
 * Only what those values need is understood: a pickle naming any other
 * class or function is refused, but for the two calls minionize itself
 * writes to stop Python minions (see `pickle_write.ts`), which read as a
 * marker.
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

const MARK = Symbol("mark");
type Item = PyValue | typeof MARK | { global: string };

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

const BUILTIN_MODULES = new Set(["builtins", "__builtin__"]);

/** `module.name`, with Python 2's module names read as Python 3's. */
function globalName(module: string, name: string): string {
  if (BUILTIN_MODULES.has(module)) return `builtins.${name}`;
  if (module === "copy_reg") return `copyreg.${name}`;
  return `${module}.${name}`;
}

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

/** Whether `value` is one of the sequence kinds. */
function isSequence(value: unknown, kind?: string): value is PySequence {
  return typeof value === "object" && value !== null &&
    "items" in value &&
    (kind === undefined || (value as PySequence).kind === kind);
}

function isDict(value: unknown): value is PyDict {
  return typeof value === "object" && value !== null &&
    (value as PyDict).kind === "dict";
}

/**
 * Reads pickles one after the other from `bytes`, as Python's
 * `pickle.load` does from a file.
 */
export class PickleReader {
  #bytes: Uint8Array;
  #view: DataView;
  #at: number;

  /**
   * A reader of `bytes` from `offset`.
   *
   * @param bytes the pickles
   * @param offset where the first one starts
   */
  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.#at = offset;
  }

  /** Where the next pickle starts. */
  get offset(): number {
    return this.#at;
  }

  /** Whether bytes are left. */
  get more(): boolean {
    return this.#at < this.#bytes.length;
  }

  #take(n: number): Uint8Array {
    if (this.#at + n > this.#bytes.length) {
      throw new PickleTruncated("the pickle ends before its STOP");
    }
    const out = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  #byte(): number {
    return this.#take(1)[0]!;
  }

  #uint(n: 2 | 4 | 8): number {
    const at = this.#at;
    this.#take(n);
    if (n === 2) return this.#view.getUint16(at, true);
    if (n === 4) return this.#view.getUint32(at, true);
    return Number(this.#view.getBigUint64(at, true));
  }

  #line(): string {
    const end = this.#bytes.indexOf(0x0a, this.#at);
    if (end < 0) throw new PickleTruncated("the pickle ends before its STOP");
    const text = latin1.decode(this.#bytes.subarray(this.#at, end));
    this.#at = end + 1;
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  }

  #utf8(n: number): string {
    try {
      return utf8.decode(this.#take(n));
    } catch {
      throw new PickleError("a string is not valid UTF-8");
    }
  }

  /**
   * Reads the next pickle.
   *
   * @throws {PickleTruncated} when it ends before its STOP
   * @throws {PickleError} when it is not a pickle of a sweep's values
   */
  read(): PyValue {
    const start = this.#at;
    try {
      return this.#read();
    } catch (error) {
      this.#at = start;
      if (error instanceof PickleError) throw error;
      throw new PickleError(`not a pickle (${(error as Error).message})`);
    }
  }

  #read(): PyValue {
    const stack: Item[] = [];
    const memo = new Map<number, Item>();
    const pop = (): Item => {
      if (stack.length === 0) {
        throw new PickleError("the pickle's stack ran dry");
      }
      return stack.pop()!;
    };
    // A function or class may sit in a tuple (the arguments of a call);
    // anywhere else it is refused when the value is read as JSON.
    const value = (item: Item): PyValue => {
      if (item === MARK) {
        throw new PickleError("the pickle has a MARK where a value is needed");
      }
      return item as PyValue;
    };
    const popMark = (): PyValue[] => {
      const at = stack.lastIndexOf(MARK);
      if (at < 0) {
        throw new PickleError("the pickle has no MARK where one is needed");
      }
      const items = stack.splice(at).slice(1);
      return items.map(value);
    };
    const top = (): Item => {
      if (stack.length === 0) {
        throw new PickleError("the pickle's stack ran dry");
      }
      return stack[stack.length - 1]!;
    };
    const pairs = (items: PyValue[]): [PyValue, PyValue][] => {
      const out: [PyValue, PyValue][] = [];
      for (let i = 0; i + 1 < items.length; i += 2) {
        out.push([items[i]!, items[i + 1]!]);
      }
      return out;
    };
    for (;;) {
      const op = String.fromCharCode(this.#byte());
      switch (op) {
        case "\x80": // PROTO
          this.#byte();
          break;
        case "\x95": // FRAME
          this.#uint(8);
          break;
        case ".": { // STOP
          const result = pop();
          if (
            typeof result === "object" && result !== null && "global" in result
          ) {
            throw new PickleError(
              "the pickle holds a function or class as a value",
            );
          }
          return value(result);
        }
        case "(":
          stack.push(MARK);
          break;
        case "0":
          pop();
          break;
        case "1":
          popMark();
          break;
        case "2":
          stack.push(top());
          break;
        case "N":
          stack.push(null);
          break;
        case "\x88":
          stack.push(true);
          break;
        case "\x89":
          stack.push(false);
          break;
        case "I": {
          const line = this.#line();
          if (line === "01") stack.push(true);
          else if (line === "00") stack.push(false);
          else stack.push(narrow(BigInt(line)));
          break;
        }
        case "J":
          this.#take(4);
          stack.push(this.#view.getInt32(this.#at - 4, true));
          break;
        case "K":
          stack.push(this.#byte());
          break;
        case "M":
          stack.push(this.#uint(2));
          break;
        case "L": {
          const line = this.#line();
          stack.push(
            narrow(BigInt(line.endsWith("L") ? line.slice(0, -1) : line)),
          );
          break;
        }
        case "\x8a":
          stack.push(littleEndian(this.#take(this.#byte())));
          break;
        case "\x8b":
          stack.push(littleEndian(this.#take(this.#uint(4))));
          break;
        case "F":
          stack.push(parseFloat(this.#line()));
          break;
        case "G":
          this.#take(8);
          stack.push(this.#view.getFloat64(this.#at - 8, false));
          break;
        case "S":
          stack.push(unquote(this.#line()));
          break;
        case "T":
          stack.push(latin1.decode(this.#take(this.#uint(4))));
          break;
        case "U":
          stack.push(latin1.decode(this.#take(this.#byte())));
          break;
        case "V":
          stack.push(rawUnicode(this.#line()));
          break;
        case "X":
          stack.push(this.#utf8(this.#uint(4)));
          break;
        case "\x8c":
          stack.push(this.#utf8(this.#byte()));
          break;
        case "\x8d":
          stack.push(this.#utf8(this.#uint(8)));
          break;
        case "B":
          stack.push({
            kind: "bytes",
            bytes: this.#take(this.#uint(4)).slice(),
          });
          break;
        case "C":
          stack.push({
            kind: "bytes",
            bytes: this.#take(this.#byte()).slice(),
          });
          break;
        case "\x8e":
          stack.push({
            kind: "bytes",
            bytes: this.#take(this.#uint(8)).slice(),
          });
          break;
        case ")":
          stack.push({ kind: "tuple", items: [] });
          break;
        case "t":
          stack.push({ kind: "tuple", items: popMark() });
          break;
        case "\x85":
        case "\x86":
        case "\x87": {
          const n = op.charCodeAt(0) - 0x84;
          const items = stack.splice(stack.length - n).map(value);
          if (items.length !== n) {
            throw new PickleError("the pickle's stack ran dry");
          }
          stack.push({ kind: "tuple", items });
          break;
        }
        case "]":
          stack.push({ kind: "list", items: [] });
          break;
        case "l":
          stack.push({ kind: "list", items: popMark() });
          break;
        case "a": {
          const item = value(pop());
          const list = top();
          if (!isSequence(list, "list")) {
            throw new PickleError("APPEND to a non-list");
          }
          list.items.push(item);
          break;
        }
        case "e": {
          const items = popMark();
          const list = top();
          if (!isSequence(list, "list")) {
            throw new PickleError("APPENDS to a non-list");
          }
          list.items.push(...items);
          break;
        }
        case "}":
          stack.push({ kind: "dict", entries: [] });
          break;
        case "d":
          stack.push({ kind: "dict", entries: pairs(popMark()) });
          break;
        case "s": {
          const item = value(pop());
          const key = value(pop());
          const dict = top();
          if (!isDict(dict)) throw new PickleError("SETITEM to a non-dict");
          dict.entries.push([key, item]);
          break;
        }
        case "u": {
          const items = popMark();
          const dict = top();
          if (!isDict(dict)) throw new PickleError("SETITEMS to a non-dict");
          dict.entries.push(...pairs(items));
          break;
        }
        case "\x8f":
          stack.push({ kind: "set", items: [] });
          break;
        case "\x90": {
          const items = popMark();
          const set = top();
          if (!isSequence(set, "set")) {
            throw new PickleError("ADDITEMS to a non-set");
          }
          set.items.push(...items);
          break;
        }
        case "\x91":
          stack.push({ kind: "frozenset", items: popMark() });
          break;
        case "c": {
          const module = this.#line();
          stack.push({ global: globalName(module, this.#line()) });
          break;
        }
        case "\x93": {
          const name = value(pop());
          const module = value(pop());
          if (typeof name !== "string" || typeof module !== "string") {
            throw new PickleError("STACK_GLOBAL needs two strings");
          }
          stack.push({ global: globalName(module, name) });
          break;
        }
        case "R": {
          const args = value(pop());
          const callable = pop();
          stack.push(this.#call(callable, args));
          break;
        }
        case "\x81": { // NEWOBJ
          const args = value(pop());
          const cls = pop();
          stack.push(this.#construct(cls, args));
          break;
        }
        case "\x92": { // NEWOBJ_EX
          pop();
          const args = value(pop());
          const cls = pop();
          stack.push(this.#construct(cls, args));
          break;
        }
        case "b": // BUILD: a HashableDict's attributes; they take no part in equality
          pop();
          break;
        case "p":
          memo.set(Number(this.#line()), top());
          break;
        case "q":
          memo.set(this.#byte(), top());
          break;
        case "r":
          memo.set(this.#uint(4), top());
          break;
        case "\x94":
          memo.set(memo.size, top());
          break;
        case "g":
        case "h":
        case "j": {
          const key = op === "g"
            ? Number(this.#line())
            : op === "h"
            ? this.#byte()
            : this.#uint(4);
          if (!memo.has(key)) {
            throw new PickleError(
              `the pickle refers to memo ${key}, never stored`,
            );
          }
          stack.push(memo.get(key)!);
          break;
        }
        default:
          throw new PickleError(
            `it is not a pickle of a sweep's params (opcode 0x${
              op.charCodeAt(0).toString(16).padStart(2, "0")
            } at byte ${this.#at - 1})`,
          );
      }
    }
  }

  /** REDUCE: the few calls that build a sweep's values. */
  #call(callable: Item, args: PyValue): PyValue {
    if (
      typeof callable !== "object" || callable === null ||
      !("global" in callable)
    ) {
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
      return this.#construct(cls as Item, { kind: "tuple", items: [] }, state);
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

  /** NEWOBJ (and protocol 0's reconstructor): an instance of a dict subclass. */
  #construct(cls: Item, _args: PyValue, state?: PyValue): PyValue {
    const name = typeof cls === "object" && cls !== null && "global" in cls
      ? cls.global
      : undefined;
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
}

/**
 * Reads the one pickle at the start of `bytes`.
 *
 * @throws {PickleError} as {@linkcode PickleReader.read}
 */
export function readPickle(bytes: Uint8Array): PyValue {
  return new PickleReader(bytes).read();
}
