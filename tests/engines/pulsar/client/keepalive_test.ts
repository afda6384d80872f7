import { assertEquals } from "../../../_assert.ts";
import { Type } from "../../../../engines/pulsar/client/commands.ts";
import { Connection } from "../../../../engines/pulsar/client/connection.ts";
import {
  encodeFrame,
  FrameReader,
} from "../../../../engines/pulsar/client/framing.ts";

/**
 * A scripted peer on loopback that answers CONNECT and then does what
 * `script` says: enough to check the client's side of keep-alive, which a
 * real broker only exercises after 30 s of silence.
 */
function peer(
  script: (conn: Deno.Conn, types: number[]) => Promise<void>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const served = (async () => {
    const conn = await listener.accept();
    const reader = new FrameReader();
    const types: number[] = [];
    const chunk = new Uint8Array(4096);
    const read = async () => {
      const n = await conn.read(chunk);
      if (n === null) return false;
      for (const frame of reader.push(chunk.slice(0, n))) {
        types.push(frame.command.type);
      }
      return true;
    };
    await read();
    await conn.write(encodeFrame({
      type: Type.CONNECTED,
      connected: { server_version: "scripted", protocol_version: 19 },
    }));
    await script(conn, types);
    while (await read().catch(() => false)) {
      // drain until the client hangs up
    }
    conn.close();
    listener.close();
    return types;
  })();
  return { port, served };
}

Deno.test("a pulsar connection answers the broker's ping with a pong", async () => {
  const { port, served } = peer(async (conn) => {
    await conn.write(encodeFrame({ type: Type.PING, ping: {} }));
  });
  const connection = await Connection.open({
    hostname: "127.0.0.1",
    port,
    tls: false,
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  connection.close();
  const types = await served;
  assertEquals(types, [Type.CONNECT, Type.PONG]);
});

Deno.test("a pulsar connection pings when idle and drops a silent broker", async () => {
  const { port, served } = peer(async () => {});
  const connection = await Connection.open(
    { hostname: "127.0.0.1", port, tls: false },
    { keepAliveMs: 100 },
  );
  const started = Date.now();
  await connection.done;
  const waited = Date.now() - started;
  assertEquals(connection.closed, true);
  const types = await served;
  assertEquals(types.slice(0, 2), [Type.CONNECT, Type.PING]);
  // Closed on the second silent interval, not before the first ping.
  assertEquals(waited >= 150, true, `closed after ${waited} ms`);
});
