/**
 * Reaching the JetStream of engine `nats`: its settings, the connection (a
 * `ConfigError` when it fails at start), the streams and durable consumer
 * it needs, the dead-letter subject, and acks sent in batches.
 *
 * @module
 */

import {
  AckPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "npm:@nats-io/jetstream@3.4.0";
import {
  connect,
  headers,
  type Msg,
  type NatsConnection,
} from "npm:@nats-io/transport-node@3.4.0";
import type { Env } from "../core/contracts.ts";
import { readChoice, readInteger, readLease } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import { type Decoder, DECODERS } from "../core/param.ts";
import { connectOrExplain, errorText, redact } from "./_broker/server.ts";

/** How long one pull waits for messages before asking again. */
export const PULL_MS = 1_000;
/** Deliveries beyond the retries, for stops and dead minions. */
const SPARE_DELIVERIES = 3;

/** The settings of the `nats` engine, read from its variables. */
export interface NatsSettings {
  /** `NATS_URL` (a comma-separated list of servers). */
  url: string;
  /** `NATS_STREAM`. */
  stream: string;
  /** `NATS_SUBJECT`. */
  subject: string;
  /** `NATS_CONSUMER`: the durable consumer all minions share. */
  consumer: string;
  /** `NATS_DEAD_LETTER`. */
  deadLetter: string;
  /** `NATS_MAX_DELIVER`. */
  maxDeliver: number;
  /** `NATS_DECODER`. */
  decoder: Decoder;
  /** `MINION_LEASE`, in ms (the consumer's ack wait). */
  leaseMs: number;
}

const NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Reads the `NATS_*` variables.
 *
 * @throws {ConfigError} naming the variable at fault
 */
export function readNatsSettings(env: Env): NatsSettings {
  const stream = env.NATS_STREAM?.trim() || "minionize";
  const consumer = env.NATS_CONSUMER?.trim() || "minionize";
  for (
    const [variable, value] of [["NATS_STREAM", stream], [
      "NATS_CONSUMER",
      consumer,
    ]] as const
  ) {
    if (!NAME.test(value)) {
      throw new ConfigError(
        variable,
        `${variable} is '${value}': expected letters, digits, - and _ only (no dots or spaces), e.g. ${variable}=sweep`,
      );
    }
  }
  const subject = env.NATS_SUBJECT?.trim() || `${stream}.params`;
  const retries = readInteger(env, "MINION_RETRIES", 0) ?? 0;
  return {
    url: env.NATS_URL?.trim() || "nats://127.0.0.1:4222",
    stream,
    subject,
    consumer,
    deadLetter: env.NATS_DEAD_LETTER?.trim() || `${subject}.failed`,
    maxDeliver: readInteger(env, "NATS_MAX_DELIVER", 1) ??
      retries + 1 + SPARE_DELIVERIES,
    decoder: readChoice(env, "NATS_DECODER", DECODERS, "identity"),
    leaseMs: readLease(env),
  };
}

/** `ms` in the nanoseconds JetStream counts in. */
export const nanos = (ms: number): number => ms * 1_000_000;

/**
 * Connects to `url`. Failing at first is a `ConfigError`; once connected,
 * the client reconnects for as long as it takes.
 */
export function connectNats(url: string): Promise<NatsConnection> {
  return connectOrExplain({
    kind: "NATS",
    variable: "NATS_URL",
    address: url,
    fix:
      "check that nats-server runs there (with JetStream: -js) and that the URL's host, port and credentials are right",
  }, () =>
    connect({
      servers: url.split(",").map((server) => server.trim()),
      timeout: 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    }));
}

/** Makes sure a stream stores `subject`, creating `name` for it if none. */
async function ensureStream(
  jsm: JetStreamManager,
  name: string,
  subject: string,
  retention: RetentionPolicy,
): Promise<void> {
  try {
    await jsm.streams.find(subject);
    return;
  } catch {
    // no stream stores it yet
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      retention,
      storage: StorageType.File,
    });
  } catch (error) {
    // Another minion created it in the meantime.
    if (!/already in use|already exists/i.test(errorText(error))) throw error;
  }
}

/**
 * Creates the streams and the durable consumer the engine uses.
 *
 * @throws {ConfigError} when the server has no JetStream
 */
export async function ensureAll(
  nc: NatsConnection,
  settings: NatsSettings,
): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (error) {
    throw new ConfigError(
      "NATS_URL",
      `NATS at NATS_URL '${redact(settings.url)}' has no JetStream: ${
        errorText(error)
      }; start nats-server with -js (or enable JetStream in its configuration)`,
      { cause: error },
    );
  }
  await ensureStream(
    jsm,
    settings.stream,
    settings.subject,
    RetentionPolicy.Workqueue,
  );
  await ensureStream(
    jsm,
    `${settings.stream}_failed`,
    settings.deadLetter,
    RetentionPolicy.Limits,
  );
  const config = {
    durable_name: settings.consumer,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(settings.leaseMs),
    max_deliver: settings.maxDeliver,
    max_ack_pending: 10_000,
  };
  try {
    const info = await jsm.consumers.info(settings.stream, settings.consumer);
    if (
      info.config.ack_wait !== config.ack_wait ||
      info.config.max_deliver !== config.max_deliver
    ) {
      await jsm.consumers.update(settings.stream, settings.consumer, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
      });
    }
  } catch {
    try {
      await jsm.consumers.add(settings.stream, config);
    } catch (error) {
      if (!/already (in use|exists)/i.test(errorText(error))) throw error;
    }
  }
  return jsm;
}

/** Publishes `data` to the dead-letter subject with why and where from. */
export async function deadLetter(
  js: JetStreamClient,
  settings: NatsSettings,
  data: Uint8Array,
  reason: string,
  sequence: number,
  deliveries: number,
): Promise<void> {
  const h = headers();
  h.set("Minionize-Reason", reason.replace(/[\r\n]+/g, " ").slice(0, 1_000));
  h.set("Minionize-Stream", settings.stream);
  h.set("Minionize-Sequence", String(sequence));
  h.set("Minionize-Deliveries", String(deliveries));
  await js.publish(settings.deadLetter, data, { headers: h });
}

/** A message pulled from the consumer, with what its reply subject says. */
export interface Pulled {
  /** Its body. */
  data: Uint8Array;
  /** Its ack subject. */
  reply: string;
  /** Its sequence number in the stream. */
  sequence: number;
  /** How many times it was delivered, this time included. */
  deliveries: number;
}

/**
 * Reads a JetStream message's delivery count and stream sequence from its
 * ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`, or the
 * longer form with domain and account hash after `$JS.ACK`.
 */
export function pulledOf(msg: Msg): Pulled | undefined {
  const reply = msg.reply;
  if (!reply?.startsWith("$JS.ACK.")) return undefined;
  const tokens = reply.split(".");
  const at = tokens.length === 9 ? 4 : 6;
  return {
    data: msg.data,
    reply,
    deliveries: Number(tokens[at]),
    sequence: Number(tokens[at + 1]),
  };
}

/** Where acks go: anything with `publish`. */
export interface Outbox {
  /** Sends `payload` to `subject`, soon. */
  publish(subject: string, payload: string): void;
  /** Sends what waits, now. */
  flush(): void;
}

/**
 * Acks gathered within one turn of the event loop and published together:
 * the client writes to its socket once per microtask turn that published,
 * and settling the tasks of a batch spreads over many turns.
 */
export function outbox(nc: NatsConnection): Outbox {
  const pending: [string, string][] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    for (const [subject, payload] of pending.splice(0)) {
      nc.publish(subject, payload);
    }
  };
  return {
    publish(subject, payload) {
      pending.push([subject, payload]);
      timer ??= setTimeout(flush, 0);
    },
    flush,
  };
}

/** Gives a message back, redelivered after `delayMs`. */
export function nak(out: Outbox, reply: string, delayMs: number): void {
  out.publish(
    reply,
    delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : "-NAK",
  );
}
