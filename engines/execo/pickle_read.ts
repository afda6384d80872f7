/**
 * Reads Python pickles (protocols 0 to 5) of the values Python execo keeps
 * in a sweep (see `pickle_values.ts`), one after the other, as Python's
 * `pickle.load` does from a file.
 *
 * Only what those values need is understood (see `_pickle_opcodes.ts`): a
 * pickle naming any other class or function is refused, but for the two
 * calls minionize itself writes to stop Python minions (see
 * `pickle_write.ts`), which read as a marker.
 *
 * @module
 */

import { isGlobal } from "./_pickle_globals.ts";
import {
  type Item,
  OPCODES,
  type PickleMachine,
  pop,
  value,
} from "./_pickle_opcodes.ts";
import { PickleError, PickleTruncated, type PyValue } from "./pickle_values.ts";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The STOP opcode, which ends a pickle. */
const STOP = 0x2e;

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
    const machine = this.#machine();
    for (;;) {
      const op = machine.byte();
      if (op === STOP) {
        const result = pop(machine);
        if (isGlobal(result)) {
          throw new PickleError(
            "the pickle holds a function or class as a value",
          );
        }
        return value(result);
      }
      const step = OPCODES[op];
      if (!step) {
        throw new PickleError(
          `it is not a pickle of a sweep's params (opcode 0x${
            op.toString(16).padStart(2, "0")
          } at byte ${this.#at - 1})`,
        );
      }
      step(machine);
    }
  }

  /** A machine for one pickle, reading from this reader's position. */
  #machine(): PickleMachine {
    const take = (n: number): Uint8Array => {
      if (this.#at + n > this.#bytes.length) {
        throw new PickleTruncated("the pickle ends before its STOP");
      }
      const out = this.#bytes.subarray(this.#at, this.#at + n);
      this.#at += n;
      return out;
    };
    /** Where `n` bytes taken now start. */
    const skip = (n: number): number => {
      const at = this.#at;
      take(n);
      return at;
    };
    return {
      stack: [] as Item[],
      memo: new Map<number, Item>(),
      take,
      byte: () => take(1)[0]!,
      uint: (n) => {
        const at = skip(n);
        if (n === 2) return this.#view.getUint16(at, true);
        if (n === 4) return this.#view.getUint32(at, true);
        return Number(this.#view.getBigUint64(at, true));
      },
      int32: () => this.#view.getInt32(skip(4), true),
      float64: () => this.#view.getFloat64(skip(8), false),
      line: () => {
        const end = this.#bytes.indexOf(0x0a, this.#at);
        if (end < 0) {
          throw new PickleTruncated("the pickle ends before its STOP");
        }
        const text = latin1.decode(this.#bytes.subarray(this.#at, end));
        this.#at = end + 1;
        return text.endsWith("\r") ? text.slice(0, -1) : text;
      },
      utf8: (n) => {
        const bytes = take(n); // cut short: PickleTruncated
        try {
          return utf8.decode(bytes);
        } catch {
          throw new PickleError("a string is not valid UTF-8");
        }
      },
    };
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
