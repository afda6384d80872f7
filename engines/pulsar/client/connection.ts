/**
 * One TCP (or TLS) connection to a Pulsar broker: the CONNECT handshake with
 * optional token authentication, request/response matching by request id,
 * ping/pong keep-alive, and routing of messages and receipts to the
 * consumers and producers registered on it.
 *
 * @module
 */

import { type Command, PROTOCOL_VERSION, Type } from "./commands.ts";
import {
  encodeFrame,
  encodePayloadFrame,
  type Frame,
  FrameReader,
} from "./framing.ts";
import type { MessageMetadata } from "./commands.ts";

/** Where a broker listens. */
export interface BrokerAddress {
  /** Host name or IP address. */
  hostname: string;
  /** TCP port (6650 plain, 6651 TLS by convention). */
  port: number;
  /** Whether to speak TLS (`pulsar+ssl://`). */
  tls: boolean;
}

/** What every connection of one client shares. */
export interface ConnectionOptions {
  /** A JWT sent as `token` authentication. @default {no authentication} */
  token?: string;
  /** PEM certificates to trust for `pulsar+ssl://`. @default {system roots} */
  caCerts?: string[];
  /** Ping after this long without traffic; close after twice. @default {30000} */
  keepAliveMs?: number;
  /** Give up connecting after this long. @default {10000} */
  connectTimeoutMs?: number;
  /**
   * How the client names itself to the broker (its stats show it).
   * @default {"minionize-pulsar-client"}
   */
  clientVersion?: string;
}

/** An error the broker answered with, or a connection that failed. */
export class PulsarError extends Error {
  /** The broker's `ServerError` code, when it sent one. */
  readonly code: number | undefined;
  /**
   * An error from the broker or the network.
   *
   * @param message what failed
   * @param code the broker's `ServerError` code, if any
   * @param options the underlying error, if any
   */
  constructor(message: string, code?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "PulsarError";
    this.code = code;
  }
}

/** `ServerError` codes worth telling apart. */
export const ServerError = {
  ServiceNotReady: 6,
  TopicNotFound: 11,
  ConsumerBusy: 5,
  TooManyRequests: 14,
  ProducerBusy: 16,
} as const;

/** Receives what the broker sends to one consumer. */
export interface ConsumerHandler {
  /** A message for this consumer arrived. */
  onMessage(frame: Frame): void;
  /** The broker closed this consumer or the connection was lost. */
  onClose(reason: string): void;
}

/** Receives what the broker sends to one producer. */
export interface ProducerHandler {
  /** The broker stored a message (SEND_RECEIPT). */
  onReceipt(command: Command): void;
  /** The broker could not store a message (SEND_ERROR). */
  onSendError(command: Command): void;
  /** The broker closed this producer or the connection was lost. */
  onClose(reason: string): void;
}

/** Parses `pulsar://host:port` or `pulsar+ssl://host:port`. */
export function parseServiceUrl(url: string): BrokerAddress {
  const match = /^(pulsar|pulsar\+ssl):\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?\/?$/
    .exec(url.trim());
  if (!match) {
    throw new TypeError(
      `Cannot use Pulsar URL '${url}': expected pulsar://HOST:PORT or pulsar+ssl://HOST:PORT`,
    );
  }
  const tls = match[1] === "pulsar+ssl";
  return {
    hostname: match[2]!.replace(/^\[|\]$/g, ""),
    port: match[3] ? Number(match[3]) : tls ? 6651 : 6650,
    tls,
  };
}

let lastId = 0;

/** A fresh id for a request, consumer or producer (unique per process). */
export function nextId(): number {
  return ++lastId;
}

interface Pending {
  resolve(command: Command): void;
  reject(error: Error): void;
}

/** A handshaken connection to one broker. */
export class Connection {
  /** The broker it is connected to. */
  readonly address: BrokerAddress;
  readonly #conn: Deno.Conn;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #options: ConnectionOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #consumers = new Map<number, ConsumerHandler>();
  readonly #producers = new Map<number, ProducerHandler>();
  #closed = false;
  #closeReason = "";
  #heardFrom = true;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #handshake: Pending | undefined;
  #outbox: Uint8Array[] = [];
  /** Resolves once the connection is closed, for whatever reason. */
  readonly done: Promise<void>;
  #markDone!: () => void;

  private constructor(
    address: BrokerAddress,
    conn: Deno.Conn,
    options: ConnectionOptions,
  ) {
    this.address = address;
    this.#conn = conn;
    this.#writer = conn.writable.getWriter();
    this.#options = options;
    this.done = new Promise((resolve) => this.#markDone = resolve);
  }

  /**
   * Connects and completes the CONNECT handshake.
   *
   * @throws {PulsarError} when the broker cannot be reached or refuses
   */
  static async open(
    address: BrokerAddress,
    options: ConnectionOptions = {},
  ): Promise<Connection> {
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const where = `${
      address.tls ? "pulsar+ssl" : "pulsar"
    }://${address.hostname}:${address.port}`;
    let conn: Deno.Conn;
    try {
      const connecting = (async (): Promise<Deno.Conn> => {
        const tcp = await Deno.connect({
          hostname: address.hostname,
          port: address.port,
        });
        // Small commands (ack, flow) must not wait for Nagle's algorithm: a
        // minion holding one message waits a round trip for the next. Set
        // on the TCP socket, so TLS (started over it) gets it too.
        tcp.setNoDelay(true);
        if (!address.tls) return tcp;
        return await Deno.startTls(tcp, {
          hostname: address.hostname,
          ...(options.caCerts ? { caCerts: options.caCerts } : {}),
        });
      })();
      conn = await _deadline(connecting, timeoutMs, () => {
        connecting.then((late) => late.close(), () => {});
      });
    } catch (error) {
      throw new PulsarError(
        `Cannot connect to Pulsar at ${where}: ${(error as Error).message}`,
        undefined,
        { cause: error },
      );
    }
    const connection = new Connection(address, conn, options);
    connection.#readLoop();
    try {
      await _deadline(connection.#connect(), timeoutMs, () => {});
    } catch (error) {
      connection.close(`handshake failed: ${(error as Error).message}`);
      throw new PulsarError(
        `Cannot connect to Pulsar at ${where}: ${(error as Error).message}`,
        error instanceof PulsarError ? error.code : undefined,
        { cause: error },
      );
    }
    connection.#startKeepAlive();
    return connection;
  }

  /** Whether the connection is still usable. */
  get closed(): boolean {
    return this.#closed;
  }

  #authFields(): Record<string, unknown> {
    const token = this.#options.token;
    return token
      ? {
        auth_method_name: "token",
        auth_data: new TextEncoder().encode(token),
      }
      : {};
  }

  #connect(): Promise<Command> {
    return new Promise((resolve, reject) => {
      this.#handshake = { resolve, reject };
      this.send({
        type: Type.CONNECT,
        connect: {
          client_version: this.#options.clientVersion ??
            "minionize-pulsar-client",
          protocol_version: PROTOCOL_VERSION,
          ...this.#authFields(),
          feature_flags: { supports_auth_refresh: true },
        },
      });
    });
  }

  #startKeepAlive() {
    const every = this.#options.keepAliveMs ?? 30_000;
    this.#keepAlive = setInterval(() => {
      if (!this.#heardFrom) {
        this.close(`no answer from the broker for ${(2 * every) / 1000}s`);
        return;
      }
      this.#heardFrom = false;
      this.send({ type: Type.PING, ping: {} });
    }, every);
  }

  async #readLoop() {
    const reader = new FrameReader();
    try {
      for await (const chunk of this.#conn.readable) {
        this.#heardFrom = true;
        for (const frame of reader.push(chunk)) this.#dispatch(frame);
      }
      this.close("the broker closed the connection");
    } catch (error) {
      this.close(`connection lost: ${(error as Error).message}`);
    }
  }

  #dispatch(frame: Frame) {
    const command = frame.command;
    switch (command.type) {
      case Type.CONNECTED: {
        const handshake = this.#handshake;
        this.#handshake = undefined;
        handshake?.resolve(command);
        return;
      }
      case Type.AUTH_CHALLENGE:
        this.send({
          type: Type.AUTH_RESPONSE,
          authResponse: {
            client_version: this.#options.clientVersion ??
              "minionize-pulsar-client",
            protocol_version: PROTOCOL_VERSION,
            response: this.#options.token
              ? {
                auth_method_name: "token",
                auth_data: new TextEncoder().encode(this.#options.token),
              }
              : {},
          },
        });
        return;
      case Type.PING:
        this.send({ type: Type.PONG, pong: {} });
        return;
      case Type.PONG:
        return;
      case Type.MESSAGE:
        this.#consumers.get(command.message.consumer_id)?.onMessage(frame);
        return;
      case Type.SEND_RECEIPT:
        this.#producers.get(command.send_receipt.producer_id)?.onReceipt(
          command,
        );
        return;
      case Type.SEND_ERROR:
        this.#producers.get(command.send_error.producer_id)?.onSendError(
          command,
        );
        return;
      case Type.CLOSE_CONSUMER: {
        const id = command.close_consumer.consumer_id;
        const handler = this.#consumers.get(id);
        this.#consumers.delete(id);
        handler?.onClose("the broker closed the consumer");
        return;
      }
      case Type.CLOSE_PRODUCER: {
        const id = command.close_producer.producer_id;
        const handler = this.#producers.get(id);
        this.#producers.delete(id);
        handler?.onClose("the broker closed the producer");
        return;
      }
      case Type.ERROR: {
        const { request_id, error, message } = command.error;
        const handshake = this.#handshake;
        if (handshake && !this.#pending.has(request_id)) {
          this.#handshake = undefined;
          handshake.reject(new PulsarError(message, error));
          return;
        }
        this.#settle(request_id, undefined, new PulsarError(message, error));
        return;
      }
      case Type.SUCCESS:
        this.#settle(command.success.request_id, command);
        return;
      case Type.PRODUCER_SUCCESS:
        // Not ready yet means queued behind an exclusive producer: wait on.
        if (command.producer_success.producer_ready === false) return;
        this.#settle(command.producer_success.request_id, command);
        return;
      case Type.LOOKUP_RESPONSE:
        this.#settle(command.lookupTopicResponse.request_id, command);
        return;
      case Type.PARTITIONED_METADATA_RESPONSE:
        this.#settle(command.partitionMetadataResponse.request_id, command);
        return;
    }
  }

  #settle(requestId: number, command?: Command, error?: Error) {
    const pending = this.#pending.get(requestId);
    if (!pending) return;
    this.#pending.delete(requestId);
    if (error) pending.reject(error);
    else pending.resolve(command!);
  }

  /** Writes a command; silently dropped once the connection is closed. */
  send(command: Command): void {
    this.#write(encodeFrame(command));
  }

  /** Writes a command that carries a message. */
  sendPayload(
    command: Command,
    metadata: MessageMetadata,
    payload: Uint8Array,
  ): void {
    this.#write(encodePayloadFrame(command, metadata, payload));
  }

  #write(bytes: Uint8Array) {
    if (this.#closed) return;
    // Frames written in the same turn (an ack and a flow, a burst of sends)
    // leave in one write: one system call instead of several.
    this.#outbox.push(bytes);
    if (this.#outbox.length > 1) return;
    queueMicrotask(() => {
      const frames = this.#outbox;
      this.#outbox = [];
      if (this.#closed || frames.length === 0) return;
      let chunk = frames[0]!;
      if (frames.length > 1) {
        chunk = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
        let at = 0;
        for (const frame of frames) {
          chunk.set(frame, at);
          at += frame.length;
        }
      }
      this.#writer.write(chunk).catch((error) =>
        this.close(`write failed: ${(error as Error).message}`)
      );
    });
  }

  /**
   * Sends a command carrying `requestId` and resolves with the broker's
   * answer.
   *
   * @throws {PulsarError} when the broker answers with an error or the
   * connection closes first
   */
  request(
    requestId: number,
    command: Command,
    timeoutMs = 30_000,
  ): Promise<Command> {
    if (this.#closed) {
      return Promise.reject(
        new PulsarError(`connection closed: ${this.#closeReason}`),
      );
    }
    return new Promise<Command>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(
          requestId,
          undefined,
          new PulsarError(`no answer from the broker in ${timeoutMs / 1000}s`),
        );
      }, timeoutMs);
      this.#pending.set(requestId, {
        resolve: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.send(command);
    });
  }

  /** Routes messages for `consumerId` to `handler`. */
  addConsumer(consumerId: number, handler: ConsumerHandler): void {
    this.#consumers.set(consumerId, handler);
  }

  /** Stops routing messages for `consumerId`. */
  removeConsumer(consumerId: number): void {
    this.#consumers.delete(consumerId);
  }

  /** Routes receipts for `producerId` to `handler`. */
  addProducer(producerId: number, handler: ProducerHandler): void {
    this.#producers.set(producerId, handler);
  }

  /** Stops routing receipts for `producerId`. */
  removeProducer(producerId: number): void {
    this.#producers.delete(producerId);
  }

  /** Closes the socket; every waiting request fails, every handler hears. */
  close(reason = "closed by the client"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    clearInterval(this.#keepAlive);
    this.#writer.releaseLock();
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
    const error = new PulsarError(`connection closed: ${reason}`);
    this.#handshake?.reject(error);
    this.#handshake = undefined;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    const consumers = [...this.#consumers.values()];
    const producers = [...this.#producers.values()];
    this.#consumers.clear();
    this.#producers.clear();
    for (const handler of consumers) handler.onClose(reason);
    for (const handler of producers) handler.onClose(reason);
    this.#markDone();
  }
}

/** `promise`, or a rejection after `ms` (then `onLate` cleans up). */
function _deadline<T>(
  promise: Promise<T>,
  ms: number,
  onLate: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onLate();
      reject(new Error(`timed out after ${ms / 1000}s`));
    }, ms);
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
