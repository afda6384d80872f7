/**
 * The stats endpoint of `--stats ADDR` (`MINION_STATS`): `/stats` as JSON
 * and `/metrics` in the Prometheus text format, served by `Deno.serve` for
 * as long as the minion runs. A bare port listens on 127.0.0.1 only, so a
 * minion is never reachable from the network unless asked.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import { explain } from "../core/denied.ts";
import type { MinionStats } from "../core/stats.ts";

/** Where to listen. */
export interface StatsAddress {
  /** The interface, e.g. `127.0.0.1`, `0.0.0.0` or `::1`. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
}

/**
 * Reads `PORT`, `HOST:PORT`, `:PORT` (every interface) or `[IPv6]:PORT`.
 *
 * @throws {ConfigError} naming `MINION_STATS` when malformed
 */
export function parseStatsAddress(text: string): StatsAddress {
  const trimmed = text.trim();
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):)?([0-9]{1,5})$/
    .exec(trimmed);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new ConfigError(
      "MINION_STATS",
      `MINION_STATS (--stats) is '${text}': expected a port (bound to 127.0.0.1), HOST:PORT, or :PORT for every interface, e.g. --stats 9100`,
    );
  }
  const host = match[1];
  return {
    hostname: host === undefined
      ? "127.0.0.1"
      : host === ""
      ? "0.0.0.0"
      : host.replace(/^\[|\]$/g, ""),
    port,
  };
}

/** How long a page waits for the queue's count before leaving it out. */
const REMAINING_WAIT_MS = 2_000;

/** A running stats server. */
export interface StatsServer {
  /** Its base URL, e.g. `http://127.0.0.1:9100`. */
  url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

/** What {@linkcode serveStats} serves. */
export interface ServeStatsOptions {
  /** What the queue still holds, asked at each request. @default {unknown} */
  remaining?: () => Promise<number | undefined>;
}

/**
 * Serves `stats` at `address` until closed. Needs `--allow-net`.
 *
 * @throws {ConfigError} naming `MINION_STATS` when the address is taken
 */
export function serveStats(
  stats: MinionStats,
  address: StatsAddress,
  options: ServeStatsOptions = {},
): StatsServer {
  const remaining = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A queue slow to count must not hold the page, nor the minion's
    // shutdown, which waits for requests in progress.
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), REMAINING_WAIT_MS);
    });
    try {
      return await Promise.race([options.remaining?.(), late]);
    } catch {
      return undefined; // a queue that cannot count now does not fail the page
    } finally {
      clearTimeout(timer);
    }
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: address.hostname,
      port: address.port,
      onListen: () => {},
    }, async (request) => {
      const path = new URL(request.url).pathname;
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("only GET\n", { status: 405 });
      }
      if (path === "/stats") {
        return Response.json(stats.snapshot(await remaining()));
      }
      if (path === "/metrics") {
        return new Response(stats.prometheus(await remaining()), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("minionize: try /stats or /metrics\n", {
        status: 404,
      });
    });
  } catch (error) {
    throw new ConfigError(
      "MINION_STATS",
      `Cannot serve stats on ${address.hostname}:${address.port}: ${
        explain(error, "choose another MINION_STATS (--stats) address")
      }`,
      { cause: error },
    );
  }
  const { hostname, port } = server.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host}:${port}`,
    close: () => server.shutdown(),
  };
}
