/**
 * A Pulsar client: one connection per broker, topic lookup (following
 * redirects to the broker that owns a topic) and partition metadata.
 * Consumers and producers (`consumer.ts`, `producer.ts`) ask it for the
 * connection that serves their topic, again after each reconnect.
 *
 * @module
 */

import { LookupType, Type } from "./commands.ts";
import {
  type BrokerAddress,
  Connection,
  type ConnectionOptions,
  nextId,
  parseServiceUrl,
  PulsarError,
} from "./connection.ts";

/** How a client reaches its cluster. */
export interface ClientOptions extends ConnectionOptions {
  /** `pulsar://host:port` or `pulsar+ssl://host:port`. */
  serviceUrl: string;
}

const MAX_REDIRECTS = 20;

/** Completes short topic names: `jobs` is `persistent://public/default/jobs`. */
export function fullTopicName(topic: string): string {
  if (topic.includes("://")) return topic;
  const parts = topic.split("/");
  if (parts.length === 1) return `persistent://public/default/${topic}`;
  if (parts.length === 3) return `persistent://${topic}`;
  throw new TypeError(
    `Cannot use Pulsar topic '${topic}': expected NAME, TENANT/NAMESPACE/NAME or persistent://TENANT/NAMESPACE/NAME`,
  );
}

/** Connections to a Pulsar cluster, shared by its consumers and producers. */
export class PulsarClient {
  /** Where lookups go: the service URL, parsed. */
  readonly serviceAddress: BrokerAddress;
  readonly #options: ConnectionOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  #closed = false;

  /**
   * Connects lazily: nothing is opened before the first lookup.
   *
   * @throws {TypeError} when `options.serviceUrl` is not a Pulsar URL
   */
  constructor(options: ClientOptions) {
    this.serviceAddress = parseServiceUrl(options.serviceUrl);
    const { serviceUrl: _, ...rest } = options;
    this.#options = rest;
  }

  /** A live connection to `address`, opened on first use. */
  connection(
    address: BrokerAddress = this.serviceAddress,
  ): Promise<Connection> {
    if (this.#closed) {
      return Promise.reject(new PulsarError("the client is closed"));
    }
    const key = `${address.tls}|${address.hostname}|${address.port}`;
    const known = this.#connections.get(key);
    if (known) {
      return known.then((conn) => {
        if (!conn.closed) return conn;
        this.#connections.delete(key);
        return this.connection(address);
      }, () => {
        this.#connections.delete(key);
        return this.connection(address);
      });
    }
    const opening = Connection.open(address, this.#options);
    this.#connections.set(key, opening);
    opening.then(
      (conn) =>
        conn.done.then(() => {
          if (this.#connections.get(key) === opening) {
            this.#connections.delete(key);
          }
        }),
      () => {
        if (this.#connections.get(key) === opening) {
          this.#connections.delete(key);
        }
      },
    );
    return opening;
  }

  /**
   * The connection to the broker that serves `topic`, following lookup
   * redirects.
   *
   * @throws {PulsarError} when the lookup fails
   */
  async lookup(topic: string): Promise<Connection> {
    let conn = await this.connection();
    let authoritative = false;
    for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
      const requestId = nextId();
      const answer = await conn.request(requestId, {
        type: Type.LOOKUP,
        lookupTopic: { topic, request_id: requestId, authoritative },
      });
      const response = answer.lookupTopicResponse;
      if (response.response === LookupType.Failed) {
        throw new PulsarError(
          `Cannot look up Pulsar topic '${topic}': ${
            response.message ?? "lookup failed"
          }`,
          response.error,
        );
      }
      if (response.proxy_through_service_url) {
        // A proxy in front: keep talking to the service URL.
        return response.response === LookupType.Connect
          ? conn
          : await this.connection();
      }
      const url = this.serviceAddress.tls
        ? response.brokerServiceUrlTls ?? response.brokerServiceUrl
        : response.brokerServiceUrl;
      const target = url ? parseServiceUrl(url) : conn.address;
      conn = await this.connection(target);
      if (response.response === LookupType.Connect) return conn;
      authoritative = response.authoritative ?? false;
    }
    throw new PulsarError(
      `Cannot look up Pulsar topic '${topic}': more than ${MAX_REDIRECTS} redirects`,
    );
  }

  /**
   * How many partitions `topic` has; 0 for a topic that is not
   * partitioned.
   */
  async partitions(topic: string): Promise<number> {
    const conn = await this.connection();
    const requestId = nextId();
    const answer = await conn.request(requestId, {
      type: Type.PARTITIONED_METADATA,
      partitionMetadata: { topic, request_id: requestId },
    });
    const response = answer.partitionMetadataResponse;
    if (response.response === 1) {
      throw new PulsarError(
        `Cannot read the partitions of Pulsar topic '${topic}': ${
          response.message ?? "failed"
        }`,
        response.error,
      );
    }
    return response.partitions ?? 0;
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#connections.values()];
    this.#connections.clear();
    for (const opening of all) {
      try {
        (await opening).close();
      } catch {
        // it never opened
      }
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Backoff before reconnect attempt `n` (0-based): 100 ms doubling to 30 s. */
export function backoffMs(n: number): number {
  const base = Math.min(30_000, 100 * 2 ** n);
  return base / 2 + Math.random() * base / 2;
}
