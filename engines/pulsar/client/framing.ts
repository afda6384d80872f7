/**
 * Pulsar's wire frames. Every frame is `[total size][command size][command]`;
 * a frame that carries a message continues with `[0x0e01][CRC-32C]
 * [metadata size][metadata][payload]`, the checksum covering everything
 * after itself. Sizes are big-endian 32-bit.
 *
 * @module
 */

import { crc32c } from "./crc32c.ts";
import {
  type Command,
  decodeCommand,
  decodeMetadata,
  encodeCommand,
  encodeMetadata,
  type MessageMetadata,
} from "./commands.ts";

const MAGIC_CRC32C = 0x0e01;

/** The broker's default limit on a frame (5 MiB) plus room for headers. */
export const MAX_FRAME = 5 * 1024 * 1024 + 64 * 1024;

/** A frame taken apart. */
export interface Frame {
  /** The command the frame starts with. */
  command: Command;
  /** Present on frames that carry a message. */
  metadata?: MessageMetadata;
  /** The message's bytes, on frames that carry a message. */
  payload?: Uint8Array;
  /** False when the frame's checksum did not match its contents. */
  checksumOk?: boolean;
}

/** A frame holding only a command. */
export function encodeFrame(command: Command): Uint8Array {
  const body = encodeCommand(command);
  const frame = new Uint8Array(8 + body.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, 4 + body.length);
  view.setUint32(4, body.length);
  frame.set(body, 8);
  return frame;
}

/** A frame holding a command, a message's metadata and its payload. */
export function encodePayloadFrame(
  command: Command,
  metadata: MessageMetadata,
  payload: Uint8Array,
): Uint8Array {
  const body = encodeCommand(command);
  const meta = encodeMetadata(metadata);
  const checked = 4 + meta.length + payload.length;
  const total = 4 + body.length + 2 + 4 + checked;
  const frame = new Uint8Array(4 + total);
  const view = new DataView(frame.buffer);
  view.setUint32(0, total);
  view.setUint32(4, body.length);
  frame.set(body, 8);
  let at = 8 + body.length;
  view.setUint16(at, MAGIC_CRC32C);
  const checksumAt = at + 2;
  at += 6;
  const checkedStart = at;
  view.setUint32(at, meta.length);
  frame.set(meta, at + 4);
  frame.set(payload, at + 4 + meta.length);
  view.setUint32(checksumAt, crc32c(frame.subarray(checkedStart)));
  return frame;
}

/** Takes one frame apart (`bytes` excludes the leading total size). */
export function decodeFrame(bytes: Uint8Array): Frame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const commandSize = view.getUint32(0);
  const command = decodeCommand(bytes.subarray(4, 4 + commandSize));
  let at = 4 + commandSize;
  if (at >= bytes.length) return { command };
  let checksumOk: boolean | undefined;
  if (view.getUint16(at) === MAGIC_CRC32C) {
    const expected = view.getUint32(at + 2);
    at += 6;
    checksumOk = crc32c(bytes.subarray(at)) === expected;
  }
  const metadataSize = view.getUint32(at);
  const metadata = decodeMetadata(
    bytes.subarray(at + 4, at + 4 + metadataSize),
  );
  const payload = bytes.subarray(at + 4 + metadataSize);
  return {
    command,
    metadata,
    payload,
    ...(checksumOk === undefined ? {} : { checksumOk }),
  };
}

/**
 * Cuts a byte stream into frames: feed it chunks as they arrive, take the
 * whole frames it returns.
 */
export class FrameReader {
  #buffer: Uint8Array = new Uint8Array(0);

  /** Adds `chunk` and returns every frame now complete. */
  push(chunk: Uint8Array): Frame[] {
    if (this.#buffer.length === 0) {
      this.#buffer = chunk;
    } else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    const frames: Frame[] = [];
    let at = 0;
    while (this.#buffer.length - at >= 4) {
      const view = new DataView(
        this.#buffer.buffer,
        this.#buffer.byteOffset + at,
        4,
      );
      const size = view.getUint32(0);
      if (size > MAX_FRAME) {
        throw new RangeError(
          `Cannot read a Pulsar frame of ${size} bytes: larger than ${MAX_FRAME}; is this a Pulsar broker?`,
        );
      }
      if (this.#buffer.length - at - 4 < size) break;
      frames.push(decodeFrame(this.#buffer.subarray(at + 4, at + 4 + size)));
      at += 4 + size;
    }
    // Copy the rest so the chunk it came from can be collected.
    this.#buffer = this.#buffer.slice(at);
    return frames;
  }
}
