/**
 * A throwaway Redis server on a free loopback port, persisting nothing.
 *
 * @module
 */

import { createClient } from "redis";
import {
  available,
  CACHE,
  freePort,
  listening,
  type RunningService,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

/** Whether redis-server is installed (throws under CI when it is not). */
export function redisAvailable(): boolean {
  return available("redis-server", "bash tests/services/install.sh redis");
}

/** Starts redis-server; `env.REDIS_URL` points at it. */
export async function startRedis(): Promise<RunningService> {
  const port = freePort();
  await Deno.mkdir(CACHE, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: CACHE, prefix: "redis-" });
  const server = await spawnServer("redis", "redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
  ]);
  try {
    await waitUntil("redis-server", () => listening(port));
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n${await tail(server.log)}`);
  }
  return {
    env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** The params in the dead-letter stream `<REDIS_STREAM>:failed`. */
export async function redisDeadLetters(
  env: Record<string, string>,
): Promise<string[]> {
  const client = createClient({ url: env.REDIS_URL!, RESP: 2 });
  await client.connect();
  try {
    const entries = await client.sendCommand<[string, string[]][]>([
      "XRANGE",
      `${env.REDIS_STREAM}:failed`,
      "-",
      "+",
    ]);
    return entries.map(([, fields]) => fields[fields.indexOf("param") + 1]!);
  } finally {
    client.destroy();
  }
}
