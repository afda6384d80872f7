import { assertEquals } from "../../../_assert.ts";
import {
  LookupType,
  Type,
} from "../../../../engines/pulsar/client/commands.ts";
import type { Command } from "../../../../engines/pulsar/client/commands.ts";
import { PulsarClient } from "../../../../engines/pulsar/client/pulsar_client.ts";
import {
  encodeFrame,
  FrameReader,
} from "../../../../engines/pulsar/client/framing.ts";

/**
 * A scripted peer that completes the handshake and answers each LOOKUP with
 * `answer(request)`: the client's redirect-following, which one standalone
 * broker never exercises (it owns every topic itself).
 */
function lookupPeer(
  answer: (lookup: Command) => Record<string, unknown>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const seen: Command[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      (async () => {
        const reader = new FrameReader();
        const chunk = new Uint8Array(4096);
        while (true) {
          const n = await conn.read(chunk).catch(() => null);
          if (n === null) break;
          for (const { command } of reader.push(chunk.slice(0, n))) {
            if (command.type === Type.CONNECT) {
              await conn.write(encodeFrame({
                type: Type.CONNECTED,
                connected: { server_version: "scripted", protocol_version: 19 },
              }));
            } else if (command.type === Type.LOOKUP) {
              seen.push(command.lookupTopic);
              await conn.write(encodeFrame({
                type: Type.LOOKUP_RESPONSE,
                lookupTopicResponse: {
                  request_id: command.lookupTopic.request_id,
                  ...answer(command.lookupTopic),
                },
              }));
            }
          }
        }
        conn.close();
      })();
    }
  })();
  return {
    url: `pulsar://127.0.0.1:${port}`,
    port,
    seen,
    async close() {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

Deno.test("a topic lookup follows redirects to the broker that owns the topic", async () => {
  // The owner answers "connect here", with its own address.
  let ownerUrl = "";
  const ownerPeer = lookupPeer(() => ({
    response: LookupType.Connect,
    brokerServiceUrl: ownerUrl,
  }));
  ownerUrl = ownerPeer.url;
  const front = lookupPeer(() => ({
    response: LookupType.Redirect,
    brokerServiceUrl: ownerPeer.url,
    authoritative: true,
  }));
  const client = new PulsarClient({ serviceUrl: front.url });
  try {
    const conn = await client.lookup("persistent://public/default/jobs");
    assertEquals(conn.address.port, ownerPeer.port);
    assertEquals(front.seen.map((l) => l.authoritative ?? false), [false]);
    // The redirected lookup is asked again, marked authoritative.
    assertEquals(ownerPeer.seen.map((l) => l.authoritative), [true]);
  } finally {
    await client.close();
    await Promise.all([ownerPeer.close(), front.close()]);
  }
});

Deno.test("a failed topic lookup is an error with the broker's message", async () => {
  const peer = lookupPeer(() => ({
    response: LookupType.Failed,
    error: 11,
    message: "Topic not found",
  }));
  const client = new PulsarClient({ serviceUrl: peer.url });
  let error: unknown;
  try {
    await client.lookup("persistent://public/default/missing");
  } catch (thrown) {
    error = thrown;
  } finally {
    await client.close();
    await peer.close();
  }
  assertEquals(
    (error as Error).message,
    "Cannot look up Pulsar topic 'persistent://public/default/missing': Topic not found",
  );
});
