/**
 * A throwaway NATS server with JetStream on a free loopback port, its store
 * in a temporary directory.
 *
 * @module
 */

import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
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

// Debian installs the server under /usr/sbin, which a user's PATH may lack.
const COMMAND = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].find(
  (path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  },
) ?? "nats-server";

/** Whether nats-server is installed (throws under CI when it is not). */
export function natsAvailable(): boolean {
  return available(COMMAND, "bash tests/services/install.sh nats");
}

/** Servers started here, by URL, so a test can restart one. */
const running = new Map<string, { restart(): Promise<void> }>();

/** Starts nats-server with JetStream; `env.NATS_URL` points at it. */
export async function startNats(): Promise<RunningService> {
  const port = freePort();
  await Deno.mkdir(CACHE, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: CACHE, prefix: "nats-" });
  const launch = async () => {
    const server = await spawnServer("nats", COMMAND, [
      "-js",
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      "-sd",
      dir,
    ]);
    try {
      await waitUntil("nats-server", () => listening(port));
    } catch (error) {
      await server.stop();
      throw new Error(
        `${(error as Error).message}\n${await tail(server.log)}`,
      );
    }
    return server;
  };
  let server = await launch();
  const url = `nats://127.0.0.1:${port}`;
  running.set(url, {
    async restart() {
      await server.stop();
      server = await launch();
    },
  });
  return {
    env: { NATS_URL: url },
    async stop() {
      running.delete(url);
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Stops the server at `url` (started by {@linkcode startNats}) and starts it
 * again on the same port and store, cutting every client's connection.
 */
export async function restartNats(url: string): Promise<void> {
  const server = running.get(url);
  if (!server) throw new Error(`no nats-server started here at ${url}`);
  await server.restart();
}

/** The params in the dead-letter stream `<NATS_STREAM>_failed`. */
export async function natsDeadLetters(
  env: Record<string, string>,
): Promise<string[]> {
  const nc = await connect({ servers: env.NATS_URL! });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `${env.NATS_STREAM}_failed`;
    const { state } = await jsm.streams.info(stream);
    const texts: string[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq });
      if (stored) texts.push(stored.string());
    }
    return texts;
  } finally {
    await nc.close();
  }
}
