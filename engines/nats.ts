/**
 * Engine `nats`: params are messages of a NATS JetStream stream, pulled
 * through one durable consumer that all minions share.
 *
 * - Each pull asks for as many messages as the minion has free slots, so a
 *   minion never holds messages it is not running.
 * - A success acks the message; a failure naks it (redelivered at once,
 *   the delivery count gives the attempt number). A SIGTERM naks it too:
 *   NATS counts every delivery, so a stop uses up one delivery.
 * - A running task keeps its message with in-progress acks every third of
 *   the consumer's ack wait (`MINION_LEASE`); a minion killed with -9 stops
 *   sending them and the message is redelivered after the lease.
 * - A param that fails for good is published to the dead-letter subject
 *   (with the reason in headers) and acked. `MaxDeliver` bounds deliveries
 *   of a message whose minions keep dying; when it is reached, the server's
 *   advisory is heard by one minion, which moves the message to the
 *   dead-letter subject.
 *
 * Settings: `NATS_URL` (default `nats://127.0.0.1:4222`), `NATS_STREAM`
 * (`minionize`), `NATS_SUBJECT` (`<stream>.params`), `NATS_CONSUMER`
 * (`minionize`), `NATS_DEAD_LETTER` (`<subject>.failed`, kept in the stream
 * `<stream>_failed`), `NATS_MAX_DELIVER` (`MINION_RETRIES` + 4),
 * `NATS_DECODER` (`identity` or `json`), `MINION_LEASE` (60 seconds).
 *
 * @module
 */

import {
  AckPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "npm:@nats-io/jetstream@3.4.0";
import {
  connect,
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
} from "npm:@nats-io/transport-node@3.4.0";
import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice, readInteger, readLease } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import {
  decode,
  type Decoder,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../core/param.ts";

/** How long one pull waits for messages before asking again. */
const PULL_MS = 1_000;
/** Tasks shorter than this (on average) get the next batch pulled ahead. */
const SHORT_TASK_MS = 50;
/** Deliveries beyond the retries, for stops and dead minions. */
const SPARE_DELIVERIES = 3;

interface Settings {
  url: string;
  stream: string;
  subject: string;
  consumer: string;
  deadLetter: string;
  maxDeliver: number;
  decoder: Decoder;
  leaseMs: number;
}

const NAME = /^[A-Za-z0-9_-]+$/;

function readSettings(env: Env): Settings {
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

function _redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function _message(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

const nanos = (ms: number) => ms * 1_000_000;

/**
 * Connects to `url`. Failing at first is a `ConfigError`; once connected,
 * the client reconnects for as long as it takes.
 */
async function _connect(url: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers: url.split(",").map((server) => server.trim()),
      timeout: 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (error) {
    throw new ConfigError(
      "NATS_URL",
      `Cannot connect to NATS at NATS_URL '${_redact(url)}': ${
        _message(error)
      }; check that nats-server runs there (with JetStream: -js) and that the URL's host, port and credentials are right`,
      { cause: error },
    );
  }
}

/** Makes sure a stream stores `subject`, creating `name` for it if none. */
async function _ensureStream(
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
    if (!/already in use|already exists/i.test(_message(error))) throw error;
  }
}

/** Creates the streams and the durable consumer the engine uses. */
async function _ensureAll(
  nc: NatsConnection,
  settings: Settings,
): Promise<JetStreamManager> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
  } catch (error) {
    throw new ConfigError(
      "NATS_URL",
      `NATS at NATS_URL '${_redact(settings.url)}' has no JetStream: ${
        _message(error)
      }; start nats-server with -js (or enable JetStream in its configuration)`,
      { cause: error },
    );
  }
  await _ensureStream(
    jsm,
    settings.stream,
    settings.subject,
    RetentionPolicy.Workqueue,
  );
  await _ensureStream(
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
      if (!/already (in use|exists)/i.test(_message(error))) throw error;
    }
  }
  return jsm;
}

/** Publishes `text` to the dead-letter subject with why and where from. */
async function _deadLetter(
  js: JetStreamClient,
  settings: Settings,
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
interface Pulled {
  data: Uint8Array;
  reply: string;
  sequence: number;
  deliveries: number;
}

/**
 * Reads a JetStream message's delivery count and stream sequence from its
 * ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...`, or the
 * longer form with domain and account hash after `$JS.ACK`.
 */
function _pulled(msg: Msg): Pulled | undefined {
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

const _decoder = new TextDecoder();
function _text(data: Uint8Array): string {
  return _decoder.decode(data);
}

/** Where acks go: anything with `publish`. */
interface Outbox {
  publish(subject: string, payload: string): void;
}

/**
 * Acks gathered within one turn of the event loop and published together:
 * the client writes to its socket once per microtask turn that published,
 * and settling the tasks of a batch spreads over many turns.
 */
function _outbox(nc: NatsConnection): Outbox & { flush(): void } {
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
function _nak(out: Outbox, reply: string, delayMs: number): void {
  out.publish(
    reply,
    delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : "-NAK",
  );
}

/** Opens the stream's durable consumer for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readSettings(options.env);
  const nc = await _connect(settings.url);
  let jsm: JetStreamManager;
  try {
    jsm = await _ensureAll(nc, settings);
  } catch (error) {
    await nc.close();
    throw error;
  }
  const js = jetstream(nc);
  if (options.dryRun) return _dryRun(nc, jsm, settings);

  // One minion (a queue group) moves messages that reached MaxDeliver to
  // the dead-letter subject, so they do not stay in the stream for ever.
  const advisories = nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${settings.stream}.${settings.consumer}`,
    {
      queue: `minionize-${settings.stream}-${settings.consumer}`,
      callback: (error, msg) => {
        if (error) return;
        const advisory = msg.json<{ stream_seq: number; deliveries: number }>();
        (async () => {
          const stored = await jsm.streams.getMessage(settings.stream, {
            seq: advisory.stream_seq,
          });
          if (!stored) return;
          await _deadLetter(
            js,
            settings,
            stored.data,
            `delivered ${advisory.deliveries} times (NATS_MAX_DELIVER) without an ack: its minions stopped or died`,
            advisory.stream_seq,
            advisory.deliveries,
          );
          await jsm.streams.deleteMessage(
            settings.stream,
            advisory.stream_seq,
          );
        })().catch(() => {});
      },
    },
  );

  // Pulls go out on one long-lived inbox, each for the slots that are free
  // and not yet asked for: cheaper than a subscription per pull, and never
  // more messages held than the minion can run.
  const out = _outbox(nc);
  const buffer: Pulled[] = [];
  let held = 0;
  // A moving average of how long the minion holds a message.
  let taskMs = Infinity;
  let stopping = false;
  // Pull requests still open, oldest first (the server fills them in order).
  const requests: { left: number; until: number }[] = [];
  let wake = () => {};
  const inbox = createInbox();
  const apiNext =
    `$JS.API.CONSUMER.MSG.NEXT.${settings.stream}.${settings.consumer}`;
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error) return;
      const code = msg.headers?.code ?? 0;
      if (code >= 100 && !msg.reply) {
        // A status: the request timed out, or was cut short.
        if (code >= 400) requests.shift();
        wake();
        return;
      }
      const pulled = _pulled(msg);
      if (!pulled) return;
      if (requests[0] && --requests[0].left <= 0) requests.shift();
      if (stopping) _nak(out, pulled.reply, PULL_MS);
      else buffer.push(pulled);
      wake();
    },
  });

  const ask = (free: number) => {
    requests.push({ left: free, until: Date.now() + PULL_MS + 500 });
    nc.publish(
      apiNext,
      JSON.stringify({ batch: free, expires: nanos(PULL_MS) }),
      { reply: inbox },
    );
  };

  const arrival = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        wake = () => {};
        resolve();
      };
      const timer = setTimeout(done, PULL_MS + 500);
      signal.addEventListener("abort", done, { once: true });
      wake = done;
    });

  const deliver = (msg: Pulled): Delivery => {
    held++;
    const taken = performance.now();
    let settled = false;
    const settle = async (act: () => Promise<unknown> | unknown) => {
      if (settled) return;
      settled = true;
      held--;
      const spent = performance.now() - taken;
      taskMs = taskMs === Infinity ? spent : 0.8 * taskMs + 0.2 * spent;
      await act();
    };
    const decoded = decode(_text(msg.data), settings.decoder);
    return {
      param: decoded.param,
      attempt: Math.max(1, msg.deliveries),
      id: String(msg.sequence),
      ...(decoded.ok ? {} : { malformed: decoded.error }),
      ack: () => settle(() => out.publish(msg.reply, "+ACK")),
      nack: () => settle(() => _nak(out, msg.reply, 0)),
      // Delayed past this minion's pending pull, so another minion gets it.
      release: () => settle(() => _nak(out, msg.reply, PULL_MS)),
      fail: (reason) =>
        settle(async () => {
          await _deadLetter(
            js,
            settings,
            msg.data,
            reason,
            msg.sequence,
            msg.deliveries,
          );
          out.publish(msg.reply, "+ACK");
        }),
      renew: () => {
        if (!settled) out.publish(msg.reply, "+WPI");
        return Promise.resolve();
      },
    };
  };

  return {
    name: "nats",
    redelivers: true,
    renewEveryMs: Math.max(100, Math.floor(settings.leaseMs / 3)),
    async next(signal): Promise<Delivery | undefined> {
      while (!signal.aborted) {
        if (nc.isClosed()) throw new Error("the NATS connection is closed");
        while (requests[0] && Date.now() > requests[0].until) requests.shift();
        const asked = requests.reduce((sum, { left }) => sum + left, 0);
        // Short tasks: one batch ahead hides the pull's round trip, and a
        // message waits only a few ms. Long tasks: nothing ahead, so a busy
        // minion never sits on messages an idle one could run.
        const ahead = taskMs < SHORT_TASK_MS ? options.concurrency : 0;
        const want = options.concurrency + ahead - held - buffer.length -
          asked;
        if (want > 0 && (buffer.length === 0 || want >= options.concurrency)) {
          ask(want);
        }
        const msg = buffer.shift();
        if (msg) return deliver(msg);
        await arrival(signal);
      }
      stopping = true;
      for (const msg of buffer.splice(0)) _nak(out, msg.reply, PULL_MS);
      return undefined;
    },
    async remaining() {
      const info = await jsm.consumers.info(settings.stream, settings.consumer);
      return info.num_pending + info.num_ack_pending;
    },
    async close() {
      stopping = true;
      for (const msg of buffer.splice(0)) _nak(out, msg.reply, PULL_MS);
      sub.unsubscribe();
      advisories.unsubscribe();
      out.flush();
      // Flushes the acks and naks still buffered.
      await nc.drain().catch(() => nc.close());
    },
  };
}

/** Lists the stream's messages once each, taking nothing. */
function _dryRun(
  nc: NatsConnection,
  jsm: JetStreamManager,
  settings: Settings,
): Engine {
  let seq = 0;
  let last = -1;
  const noop = () => Promise.resolve();
  return {
    name: "nats",
    redelivers: true,
    async next(signal) {
      if (last < 0) {
        last = (await jsm.streams.info(settings.stream)).state.last_seq;
      }
      while (!signal.aborted && seq < last) {
        seq++;
        let stored;
        try {
          stored = await jsm.streams.getMessage(settings.stream, { seq });
        } catch {
          continue; // acked and removed
        }
        if (!stored) continue;
        const decoded = decode(stored.string(), settings.decoder);
        return {
          param: decoded.param,
          attempt: 1,
          id: String(seq),
          ...(decoded.ok ? {} : { malformed: decoded.error }),
          ack: noop,
          nack: noop,
          release: noop,
          fail: noop,
        };
      }
      return undefined;
    },
    async close() {
      await nc.close();
    },
  };
}

/**
 * Publishes params to the subject: strings as they are under the
 * `identity` decoder, anything else (and everything under `json`) as JSON.
 * With `create`, creates the streams and the consumer first; without, no
 * stream storing the subject is an error.
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readSettings(options.env);
  const nc = await _connect(settings.url);
  try {
    const jsm = options.create
      ? await _ensureAll(nc, settings)
      : await jetstreamManager(nc);
    try {
      await jsm.streams.find(settings.subject);
    } catch {
      throw new ConfigError(
        "NATS_SUBJECT",
        `Cannot publish: no JetStream stream stores NATS_SUBJECT '${settings.subject}'; add --create to create the stream '${settings.stream}'`,
      );
    }
    const js = jetstream(nc);
    let count = 0;
    let batch: Promise<unknown>[] = [];
    for await (const param of params) {
      const text = encode(param, settings.decoder);
      batch.push(js.publish(settings.subject, text));
      count++;
      if (batch.length >= 1_000) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    return count;
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/** The `nats` engine plug-in (NATS JetStream, durable pull consumer). */
export const natsEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("NATS_DECODER"),
};
