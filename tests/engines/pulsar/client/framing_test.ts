import { assert, assertEquals } from "../../../_assert.ts";
import { crc32c } from "../../../../engines/pulsar/client/crc32c.ts";
import {
  decodeFrame,
  encodeFrame,
  encodePayloadFrame,
  FrameReader,
} from "../../../../engines/pulsar/client/framing.ts";
import { Type } from "../../../../engines/pulsar/client/commands.ts";
import { parseServiceUrl } from "../../../../engines/pulsar/client/connection.ts";
import { fullTopicName } from "../../../../engines/pulsar/client/pulsar_client.ts";

Deno.test("crc32c gives the Castagnoli check values", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assertEquals(crc32c(text("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assertEquals(crc32c(new Uint8Array(0)), 0);
});

Deno.test("a command frame is sized and decodes back to the command", () => {
  const frame = encodeFrame({
    type: Type.FLOW,
    flow: { consumer_id: 7, messagePermits: 3 },
  });
  const view = new DataView(frame.buffer);
  assertEquals(view.getUint32(0), frame.length - 4);
  const decoded = decodeFrame(frame.subarray(4));
  assertEquals(decoded.command.type, Type.FLOW);
  assertEquals(decoded.command.flow, { consumer_id: 7, messagePermits: 3 });
  assertEquals(decoded.payload, undefined);
});

Deno.test("required zero fields are written on the wire", () => {
  // proto2: a broker rejects a command missing a required field, even 0.
  const frame = encodeFrame({
    type: Type.ACK,
    ack: {
      consumer_id: 0,
      ack_type: 0,
      message_id: [{ ledgerId: 0, entryId: 0 }],
    },
  });
  const decoded = decodeFrame(frame.subarray(4));
  assertEquals(decoded.command.ack.consumer_id, 0);
  assertEquals(decoded.command.ack.ack_type, 0);
  assertEquals(decoded.command.ack.message_id[0].ledgerId, 0);
});

Deno.test("a message frame carries a checksum over metadata and payload", () => {
  const payload = new TextEncoder().encode("hello");
  const frame = encodePayloadFrame(
    { type: Type.SEND, send: { producer_id: 1, sequence_id: 0 } },
    { producer_name: "p", sequence_id: 0, publish_time: 1 },
    payload,
  );
  const decoded = decodeFrame(frame.subarray(4));
  assertEquals(decoded.checksumOk, true);
  assertEquals(new TextDecoder().decode(decoded.payload), "hello");
  assertEquals(decoded.metadata?.producer_name, "p");
  const corrupted = frame.slice();
  corrupted[corrupted.length - 1] = corrupted.at(-1)! ^ 1;
  assertEquals(decodeFrame(corrupted.subarray(4)).checksumOk, false);
});

Deno.test("the frame reader reassembles frames split across chunks", () => {
  const one = encodeFrame({ type: Type.PING, ping: {} });
  const two = encodeFrame({ type: Type.PONG, pong: {} });
  const stream = new Uint8Array([...one, ...two]);
  const reader = new FrameReader();
  const types: number[] = [];
  for (let at = 0; at < stream.length; at += 3) {
    for (const frame of reader.push(stream.slice(at, at + 3))) {
      types.push(frame.command.type);
    }
  }
  assertEquals(types, [Type.PING, Type.PONG]);
});

Deno.test("the frame reader refuses a frame size no broker sends", () => {
  const reader = new FrameReader();
  let error: unknown;
  try {
    reader.push(new Uint8Array([0x48, 0x54, 0x54, 0x50])); // "HTTP"
  } catch (thrown) {
    error = thrown;
  }
  assert(error instanceof RangeError, String(error));
});

Deno.test("service URLs and short topic names are completed", () => {
  assertEquals(parseServiceUrl("pulsar://h:1"), {
    hostname: "h",
    port: 1,
    tls: false,
  });
  assertEquals(parseServiceUrl("pulsar+ssl://h"), {
    hostname: "h",
    port: 6651,
    tls: true,
  });
  assertEquals(fullTopicName("jobs"), "persistent://public/default/jobs");
  assertEquals(fullTopicName("t/n/jobs"), "persistent://t/n/jobs");
  let error: unknown;
  try {
    parseServiceUrl("http://h:1");
  } catch (thrown) {
    error = thrown;
  }
  assert(error instanceof TypeError);
});
