/**
 * The record format of a sweep's journal and snapshots: one line per record,
 * `CRC TYPE ID BODY\n`, where CRC is the CRC-32 of `TYPE ID BODY` as eight
 * lowercase hex digits, TYPE one letter, ID a decimal number and BODY JSON
 * text (JSON never holds a raw newline). A record is valid only whole, with
 * its newline and a matching checksum, so a write cut short by a crash is
 * told apart from data.
 *
 * @module
 */

/** One decoded record. */
export interface LogRecord {
  /** One letter: `h` header, `a` add, `c` claim, `e` extend, ... */
  type: string;
  /** The param's id (the generation in a header). */
  id: number;
  /** JSON text. */
  body: string;
}

/** What a scan of bytes found. */
export interface ScanResult {
  /** The valid records, in order. */
  records: LogRecord[];
  /** Bytes taken by the valid records, from the start of the buffer. */
  consumed: number;
  /**
   * Where the first invalid bytes start (relative to the buffer), when the
   * buffer does not end with a valid record.
   */
  invalidAt?: number;
  /** Whether a valid record follows invalid bytes: damage, not a torn tail. */
  validAfterInvalid: boolean;
}

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of `bytes[start, end)`. */
export function crc32(
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;
const SPACE = 0x20;

/** Encodes one record as its line, newline included. */
export function encodeRecord(
  type: string,
  id: number | string,
  body: string,
): Uint8Array {
  const payload = encoder.encode(`${type} ${id} ${body}`);
  const line = new Uint8Array(payload.length + 10);
  const crc = crc32(payload).toString(16).padStart(8, "0");
  for (let i = 0; i < 8; i++) line[i] = crc.charCodeAt(i);
  line[8] = SPACE;
  line.set(payload, 9);
  line[line.length - 1] = NEWLINE;
  return line;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** The record in `bytes[start, end)` (newline excluded), or undefined. */
function decodeLine(
  bytes: Uint8Array,
  start: number,
  end: number,
): LogRecord | undefined {
  if (end - start < 14 || bytes[start + 8] !== SPACE) return undefined;
  let expected = 0;
  for (let i = 0; i < 8; i++) {
    const digit = hexValue(bytes[start + i]!);
    if (digit < 0) return undefined;
    expected = expected * 16 + digit;
  }
  if (crc32(bytes, start + 9, end) !== expected) return undefined;
  let text: string;
  try {
    text = decoder.decode(bytes.subarray(start + 9, end));
  } catch {
    return undefined;
  }
  const first = text.indexOf(" ");
  const second = text.indexOf(" ", first + 1);
  if (first !== 1 || second < 0) return undefined;
  const id = Number(text.slice(2, second));
  if (!Number.isSafeInteger(id) || id < 0) return undefined;
  return { type: text[0]!, id, body: text.slice(second + 1) };
}

/** The record type that marks bytes a crashed writer left as void. */
export const SKIP = "t";

/** What a skip record says: `n` bytes from offset `at`, with CRC-32 `c`. */
export interface SkipBody {
  /** Where the void bytes start in the file. */
  at: number;
  /** How many bytes are void. */
  n: number;
  /** Their CRC-32. */
  c: number;
}

/**
 * The bytes that void `torn` (the invalid bytes found at absolute offset
 * `at`): a newline when `torn` does not end with one, so that the skip
 * record starts a line, then a skip record naming every byte it covers
 * (newline included) and their checksum. Nothing is cut: a reader that meets
 * the torn bytes finds this record right after them and steps over both.
 */
export function skipRecord(torn: Uint8Array, at: number): Uint8Array {
  const pad = torn.length > 0 && torn[torn.length - 1] === NEWLINE ? 0 : 1;
  const covered = new Uint8Array(torn.length + pad);
  covered.set(torn);
  if (pad) covered[torn.length] = NEWLINE;
  const body: SkipBody = { at, n: covered.length, c: crc32(covered) };
  const record = encodeRecord(SKIP, 0, JSON.stringify(body));
  const out = new Uint8Array(pad + record.length);
  if (pad) out[0] = NEWLINE;
  out.set(record, pad);
  return out;
}

/**
 * Whether `record`, found at relative offset `start` of `bytes`, is a skip
 * record that voids exactly the bytes from relative offset `from` up to it.
 */
function voids(
  record: LogRecord,
  bytes: Uint8Array,
  base: number,
  from: number,
  start: number,
): boolean {
  if (record.type !== SKIP) return false;
  let body: SkipBody;
  try {
    body = JSON.parse(record.body) as SkipBody;
  } catch {
    return false;
  }
  return body.at === base + from && body.n === start - from &&
    body.c === crc32(bytes, from, start);
}

/**
 * Decodes the records at the start of `bytes`, which begin at absolute
 * offset `base` of their file. Bytes voided by a skip record (a write a
 * crash tore, see {@linkcode skipRecord}) are stepped over with it. Stops
 * at the first invalid bytes that no skip record voids (or a last line
 * without its newline) and says whether a valid record comes after them: a
 * crash mid-write leaves invalid bytes only at the very end, until the next
 * writer voids them.
 */
export function scanRecords(bytes: Uint8Array, base = 0): ScanResult {
  const records: LogRecord[] = [];
  let start = 0;
  while (start < bytes.length) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end < 0) break;
    const record = decodeLine(bytes, start, end);
    if (record) {
      if (record.type !== SKIP) records.push(record);
      start = end + 1;
      continue;
    }
    // Invalid bytes: the next valid record must void them, or they are a
    // torn tail (nothing valid after them) or damage (something valid).
    const next = nextValid(bytes, start);
    if (next === undefined) break;
    if (!voids(next.record, bytes, base, start, next.start)) {
      return {
        records,
        consumed: start,
        invalidAt: start,
        validAfterInvalid: true,
      };
    }
    start = next.end + 1;
  }
  if (start >= bytes.length) {
    return { records, consumed: start, validAfterInvalid: false };
  }
  return {
    records,
    consumed: start,
    invalidAt: start,
    validAfterInvalid: false,
  };
}

/** The first valid record that starts a line after `from`, if any. */
function nextValid(
  bytes: Uint8Array,
  from: number,
): { record: LogRecord; start: number; end: number } | undefined {
  let probe = bytes.indexOf(NEWLINE, from);
  while (probe >= 0 && probe + 1 < bytes.length) {
    const end = bytes.indexOf(NEWLINE, probe + 1);
    if (end < 0) return undefined;
    const record = decodeLine(bytes, probe + 1, end);
    if (record) return { record, start: probe + 1, end };
    probe = end;
  }
  return undefined;
}
