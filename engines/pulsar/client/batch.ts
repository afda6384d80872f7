/**
 * Reading what a consumer receives: the messages packed in a batch entry,
 * decompression, and the bit sets of batch-index acknowledgements.
 *
 * @module
 */

import { inflateSync } from "node:zlib";
import { decompress as zstd } from "npm:fzstd@0.1.1";
import snappy from "npm:snappyjs@0.7.0";
import {
  Compression,
  decodeSingleMetadata,
  type KeyValue,
  longBits,
  longFromBits,
  type MessageId,
  type MessageMetadata,
} from "./commands.ts";

/** Properties as a record. */
export function properties(
  list: KeyValue[] | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of list ?? []) out[key] = value;
  return out;
}

/** Whether bit `index` of a broker `ack_set` is set (set = not acked yet). */
export function stillUnacked(
  ackSet: MessageId["ack_set"],
  index: number,
): boolean {
  if (!ackSet || ackSet.length === 0) return true;
  const word = ackSet[Math.floor(index / 64)];
  if (word === undefined) return false;
  const [low, high] = longBits(word);
  const bit = index % 64;
  return bit < 32
    ? ((low >>> bit) & 1) === 1
    : ((high >>> (bit - 32)) & 1) === 1;
}

/** An `ack_set` with every bit of `size` set except those in `acked`. */
export function ackSet(
  size: number,
  acked: Set<number>,
): ReturnType<typeof longFromBits>[] {
  const words = [];
  for (let w = 0; w * 64 < size; w++) {
    let low = 0;
    let high = 0;
    for (let bit = 0; bit < 64 && w * 64 + bit < size; bit++) {
      if (acked.has(w * 64 + bit)) continue;
      if (bit < 32) low |= 1 << bit;
      else high |= 1 << (bit - 32);
    }
    words.push(longFromBits(low, high));
  }
  return words;
}

/**
 * The payload as sent, decompressed.
 *
 * @throws {Error} for a codec this client does not read
 */
export function decompress(
  payload: Uint8Array,
  metadata: MessageMetadata,
): Uint8Array {
  switch (metadata.compression ?? Compression.NONE) {
    case Compression.NONE:
      return payload;
    case Compression.ZLIB:
      return new Uint8Array(inflateSync(payload));
    case Compression.LZ4:
      return lz4Block(payload, metadata.uncompressed_size ?? 0);
    case Compression.ZSTD:
      return zstd(payload);
    case Compression.SNAPPY:
      return new Uint8Array(snappy.uncompress(payload));
    default:
      throw new Error(
        `it is compressed with a codec this client does not read (${metadata.compression}); publish with NONE, LZ4, ZLIB, ZSTD or SNAPPY`,
      );
  }
}

/** One message of a batch. */
export interface Single {
  /** Its bytes. */
  payload: Uint8Array;
  /** The properties its producer set. */
  properties: Record<string, string>;
  /** Removed by topic compaction: skipped, not run. */
  compacted: boolean;
}

/** Splits a batch payload: `[size][SingleMessageMetadata][payload]` × n. */
export function unbatch(payload: Uint8Array, count: number): Single[] {
  const view = new DataView(
    payload.buffer,
    payload.byteOffset,
    payload.length,
  );
  const out: Single[] = [];
  let at = 0;
  for (let i = 0; i < count && at + 4 <= payload.length; i++) {
    const metaSize = view.getUint32(at);
    const meta = decodeSingleMetadata(
      payload.subarray(at + 4, at + 4 + metaSize),
    );
    at += 4 + metaSize;
    out.push({
      payload: payload.subarray(at, at + meta.payload_size),
      properties: properties(meta.properties),
      compacted: meta.compacted_out ?? false,
    });
    at += meta.payload_size;
  }
  return out;
}

/**
 * Decompresses one LZ4 block (the raw block format Pulsar's clients write,
 * no frame header) of `size` bytes once decompressed.
 *
 * @throws {RangeError} when the block is malformed
 */
export function lz4Block(input: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let i = 0;
  let o = 0;
  const bad = () => new RangeError("it is not a valid LZ4 block");
  const length = (base: number) => {
    let n = base;
    if (base === 15) {
      let byte: number;
      do {
        if (i >= input.length) throw bad();
        byte = input[i++]!;
        n += byte;
      } while (byte === 255);
    }
    return n;
  };
  while (i < input.length) {
    const token = input[i++]!;
    const literals = length(token >>> 4);
    if (i + literals > input.length || o + literals > size) throw bad();
    out.set(input.subarray(i, i + literals), o);
    i += literals;
    o += literals;
    if (i >= input.length) break; // the last sequence has no match
    if (i + 2 > input.length) throw bad();
    const offset = input[i]! | (input[i + 1]! << 8);
    i += 2;
    const match = length(token & 15) + 4;
    if (offset === 0 || offset > o || o + match > size) throw bad();
    // Byte by byte: a match may overlap what it copies.
    for (let k = 0; k < match; k++, o++) out[o] = out[o - offset]!;
  }
  if (o !== size) throw bad();
  return out;
}
