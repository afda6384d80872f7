import { assertEquals } from "../../../_assert.ts";
import {
  ackSet,
  decompress,
  lz4Block,
  stillUnacked,
  unbatch,
} from "../../../../engines/pulsar/client/batch.ts";
import {
  Compression,
  encodeSingleMetadata,
} from "../../../../engines/pulsar/client/commands.ts";
import { deflateSync } from "node:zlib";

function packed(items: { text: string; key?: string }[]): Uint8Array {
  const parts: number[] = [];
  for (const { text, key } of items) {
    const payload = new TextEncoder().encode(text);
    const meta = encodeSingleMetadata({
      payload_size: payload.length,
      ...(key ? { properties: [{ key, value: "v" }] } : {}),
    });
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, meta.length);
    parts.push(...size, ...meta, ...payload);
  }
  return new Uint8Array(parts);
}

Deno.test("a batch payload is split into its messages and their properties", () => {
  const batch = unbatch(
    packed([{ text: "one" }, { text: "" }, { text: "three", key: "k" }]),
    3,
  );
  assertEquals(
    batch.map((m) => new TextDecoder().decode(m.payload)),
    ["one", "", "three"],
  );
  assertEquals(batch[2]!.properties, { k: "v" });
  assertEquals(batch[0]!.compacted, false);
});

Deno.test("batch-index ack bits mark only the unacknowledged messages", () => {
  // 70 messages span two 64-bit words; 3 and 66 are acknowledged.
  const words = ackSet(70, new Set([3, 66]));
  assertEquals(words.length, 2);
  const unacked = Array.from({ length: 70 }, (_, i) => stillUnacked(words, i));
  assertEquals(unacked.filter((u) => !u).length, 2);
  assertEquals([unacked[3], unacked[66], unacked[0], unacked[69]], [
    false,
    false,
    true,
    true,
  ]);
  assertEquals(stillUnacked([], 5), true);
});

Deno.test("a ZLIB payload is inflated, an unknown codec is refused", () => {
  const text = new TextEncoder().encode("compressed param");
  const inflated = decompress(new Uint8Array(deflateSync(text)), {
    producer_name: "p",
    sequence_id: 0,
    publish_time: 0,
    compression: Compression.ZLIB,
  });
  assertEquals(new TextDecoder().decode(inflated), "compressed param");
  let error: unknown;
  try {
    decompress(text, {
      producer_name: "p",
      sequence_id: 0,
      publish_time: 0,
      compression: 99,
    });
  } catch (thrown) {
    error = thrown;
  }
  assertEquals(error instanceof Error, true);
});

Deno.test("an LZ4 block with an overlapping match decompresses", () => {
  const text = (s: string) => [...new TextEncoder().encode(s)];
  const block = new Uint8Array([
    0x36, // 3 literals, then a match of 6 + 4 bytes
    ...text("abc"),
    0x03,
    0x00, // offset 3: repeats "abc" over itself
    0x50, // 5 literals, end of block
    ...text("xyzzy"),
  ]);
  assertEquals(
    new TextDecoder().decode(lz4Block(block, 18)),
    "abcabcabcabcaxyzzy",
  );
  let error: unknown;
  try {
    lz4Block(new Uint8Array([0x36, 97, 98, 99, 0x09, 0x00]), 18);
  } catch (thrown) {
    error = thrown;
  }
  assertEquals(error instanceof RangeError, true);
});
