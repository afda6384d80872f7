/**
 * Reaching a broker: its address as messages show it (password hidden),
 * the text of a connection error, and the one-line `ConfigError` that a
 * broker the minion cannot reach at start becomes (exit 2, nothing taken).
 *
 * @module
 */

import { ConfigError } from "../../core/errors.ts";
import { hostname } from "../../core/host.ts";

/** The broker an engine talks to, as messages name it. */
export interface BrokerServer {
  /** What it is, e.g. `Redis`. */
  kind: string;
  /** The variable that gives its address, e.g. `REDIS_URL`. */
  variable: string;
  /** The address as given (a URL, or `host:port` list). */
  address: string;
  /** What to check, said after the reason, e.g. `check that redis-server runs there`. */
  fix: string;
  /**
   * What could not be done: connecting, or reaching it when what failed is
   * a request over a connection the client opened itself.
   * @default {"connect to"}
   */
  verb?: "connect to" | "reach";
  /**
   * Which error of an `AggregateError` the message quotes.
   * @default {"first"}
   */
  which?: "first" | "last";
}

/**
 * `url` with its password replaced by `***`, for messages.
 *
 * @example
 * ```ts
 * import { redact } from "./server.ts";
 *
 * console.log(redact("amqp://guest:secret@host:5672")); // amqp://guest:***@host:5672
 * ```
 */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/**
 * The text of `error` for a one-line message: its message (its name when
 * empty), or that of the first error it gathers (the last one with
 * `which: "last"`, for clients that gather their retries in order).
 */
export function errorText(
  error: unknown,
  which: "first" | "last" = "first",
): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return errorText(error.errors.at(which === "first" ? 0 : -1), which);
  }
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * The error a broker that cannot be reached at start becomes: a
 * `ConfigError` naming its variable, its address (password hidden), why,
 * and what to check.
 */
export function cannotReach(server: BrokerServer, cause: unknown): ConfigError {
  return new ConfigError(
    server.variable,
    `Cannot ${
      server.verb ?? "connect to"
    } ${server.kind} at ${server.variable} '${redact(server.address)}': ${
      errorText(cause, server.which)
    }; ${server.fix}`,
    { cause },
  );
}

/**
 * Runs `connect`; any failure but a `ConfigError` becomes
 * {@linkcode cannotReach}'s. Once connected, reconnecting is the client's
 * business: only the first connection is a setting to fix.
 *
 * @param server the broker, for the message
 * @param connect opens the client and checks that the broker answers
 * @returns what `connect` resolved to
 * @throws {ConfigError} when it failed
 */
export async function connectOrExplain<T>(
  server: BrokerServer,
  connect: () => Promise<T>,
): Promise<T> {
  try {
    return await connect();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw cannotReach(server, error);
  }
}

/**
 * A name for this process as a consumer of a queue, unique even for two
 * minions of one host and pid (a container's pid 1): `host-pid-8hex`.
 */
export function consumerName(): string {
  return `${hostname()}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}
