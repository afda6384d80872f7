/**
 * Reaching the stream of engine `redis`: its settings, the connection (a
 * `ConfigError` when it fails at start), waiting out a lost connection, and
 * the consumer group.
 *
 * @module
 */

import { createClient } from "npm:redis@6.3.1";
import type { Env } from "../core/contracts.ts";
import { readChoice, readLease } from "../core/env.ts";
import { type Decoder, DECODERS } from "../core/param.ts";
import { retryWhile } from "../core/retry.ts";
import {
  type BrokerServer,
  connectOrExplain,
  consumerName,
  errorText,
} from "./_broker/server.ts";

/** A connected client. */
export type RedisClient = ReturnType<typeof createClient>;

/** The field of a stream entry that holds the param's text. */
export const FIELD = "param";

/** The settings of the `redis` engine, read from its variables. */
export interface RedisSettings {
  /** `REDIS_URL`. */
  url: string;
  /** `REDIS_STREAM`. */
  stream: string;
  /** `REDIS_GROUP`. */
  group: string;
  /** `REDIS_CONSUMER`: this minion's name in the group. */
  consumer: string;
  /** `REDIS_DEAD_LETTER`. */
  deadLetter: string;
  /** `REDIS_DECODER`. */
  decoder: Decoder;
  /** `MINION_LEASE`, in ms. */
  leaseMs: number;
}

/**
 * Reads the `REDIS_*` variables.
 *
 * @throws {ConfigError} naming the variable at fault
 */
export function readRedisSettings(env: Env): RedisSettings {
  const stream = env.REDIS_STREAM?.trim() || "minionize";
  return {
    url: env.REDIS_URL?.trim() || "redis://127.0.0.1:6379",
    stream,
    group: env.REDIS_GROUP?.trim() || "minionize",
    consumer: env.REDIS_CONSUMER?.trim() || consumerName(),
    deadLetter: env.REDIS_DEAD_LETTER?.trim() || `${stream}:failed`,
    decoder: readChoice(env, "REDIS_DECODER", DECODERS, "identity"),
    leaseMs: readLease(env),
  };
}

/**
 * Connects to `url`. Failing at first is a `ConfigError`; once connected,
 * the client reconnects by itself and queues commands meanwhile.
 */
export function connectRedis(url: string): Promise<RedisClient> {
  const server: BrokerServer = {
    kind: "Redis",
    variable: "REDIS_URL",
    address: url,
    fix:
      "check that redis-server runs there and that the URL's host, port and password are right",
  };
  let connected = false;
  return connectOrExplain(server, async () => {
    const client: RedisClient = createClient({
      url,
      // Replies are read as RESP2 arrays, the shape the stream commands
      // document.
      RESP: 2,
      socket: {
        connectTimeout: 5_000,
        reconnectStrategy: (retries: number, cause: Error) =>
          connected ? Math.min(50 * 2 ** retries, 2_000) : cause,
      },
    });
    // Errors while connected are followed by a reconnect; commands wait.
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      client.destroy();
      throw error;
    }
    connected = true;
    return client;
  });
}

/** Whether `error` means the connection dropped (worth waiting out). */
function lost(error: unknown): boolean {
  const name = error instanceof Error ? error.constructor.name : "";
  return [
    "SocketClosedUnexpectedlyError",
    "ConnectionTimeoutError",
    "SocketTimeoutError",
    "ClientOfflineError",
    "DisconnectsClientError",
  ].includes(name) || /ECONNRE|EPIPE/.test(errorText(error));
}

/** Runs `act`, waiting out a lost connection (see {@linkcode retryWhile}). */
export function patiently<T>(
  act: () => Promise<T>,
  signal: AbortSignal | undefined,
  patienceMs = Infinity,
): Promise<T> {
  return retryWhile(act, lost, { signal, patienceMs, firstDelayMs: 50 });
}

/** Creates the group (reading from the stream's start) if it is missing. */
export async function ensureGroup(
  client: RedisClient,
  settings: RedisSettings,
): Promise<void> {
  try {
    await client.sendCommand([
      "XGROUP",
      "CREATE",
      settings.stream,
      settings.group,
      "0",
      "MKSTREAM",
    ]);
  } catch (error) {
    if (!errorText(error).includes("BUSYGROUP")) throw error;
  }
}

/** A stream entry as Redis replies it: id and flat field list. */
export type RawEntry = [string, string[] | null];

/** The value of field `name` in an entry's flat field list. */
export function fieldOf(
  fields: string[] | null,
  name: string,
): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1];
  }
  return undefined;
}
