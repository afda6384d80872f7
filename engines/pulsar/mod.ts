/**
 * Engine `pulsar`: params are messages of an Apache Pulsar topic, shared by
 * every minion subscribed under the same name (a Shared subscription), with
 * a client written here in TypeScript (no native library to install).
 *
 * Each minion holds at most `-j` messages at once (flow permits; more
 * with `PULSAR_PREFETCH`, which spares short tasks a broker round trip
 * each but keeps the held messages from other minions), acks a
 * param when its run succeeds, gives it back after a failure (the broker
 * redelivers it, counting), and gets back whatever a dead minion held. When
 * `--retries` are spent, the message goes to the dead-letter topic
 * `<topic>-<subscription>-DLQ` (the name Pulsar's Java client gives it) and
 * is acked. Negative-ack delay and dead-lettering are client-side in Pulsar,
 * so this engine does both.
 *
 * Settings: `PULSAR_CONNECTION` (`pulsar://localhost:6650`; `pulsar+ssl://`
 * for TLS), `PULSAR_TOPIC` (required), `PULSAR_SUBSCRIPTION` (`minionize`),
 * `PULSAR_DECODER` (`identity` or `json`), `PULSAR_TOKEN` (JWT),
 * `PULSAR_NACK_DELAY` (seconds, 1), `PULSAR_DEAD_LETTER_TOPIC`,
 * `PULSAR_TLS_TRUST_CERTS` (PEM file), `PULSAR_BATCH_INDEX_ACK` (0),
 * `PULSAR_PREFETCH` (messages a minion may hold; `-j` by default).
 *
 * @example Publish three params, then run a minion on them
 * ```ts ignore
 * import { pulsarEngine } from "./mod.ts";
 * const env = { PULSAR_TOPIC: "jobs" };
 * async function* params() { yield "a"; yield "b"; yield "c"; }
 * await pulsarEngine.publish!(params(), { env, create: true });
 * const engine = await pulsarEngine.open({ env, concurrency: 2, dryRun: false });
 * const delivery = await engine.next(AbortSignal.timeout(10_000));
 * await delivery?.ack();
 * await engine.close();
 * ```
 *
 * @module
 */

import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../../core/contracts.ts";
import {
  readBoolean,
  readChoice,
  readInteger,
  readRequired,
  readSeconds,
} from "../../core/env.ts";
import { ConfigError } from "../../core/errors.ts";
import {
  decode,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../../core/param.ts";
import { delay } from "../../core/async.ts";
import { VERSION } from "../../core/version.ts";
import {
  Consumer,
  fullTopicName,
  parseServiceUrl,
  Producer,
  PulsarClient,
  PulsarError,
  type Received,
} from "./client/mod.ts";

export type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../../core/contracts.ts";
export {
  type BrokerAddress,
  type ClientOptions,
  type Command,
  Connection,
  type ConnectionOptions,
  Consumer,
  type ConsumerHandler,
  type ConsumerOptions,
  type Frame,
  type KeyValue,
  type Message,
  type MessageId,
  type MessageMetadata,
  type OutgoingMessage,
  Producer,
  type ProducerHandler,
  PulsarClient,
  PulsarError,
  type Received,
} from "./client/mod.ts";

/** The settings of the `pulsar` engine, read from its variables. */
export interface PulsarSettings {
  /** `PULSAR_CONNECTION`. @default {"pulsar://localhost:6650"} */
  serviceUrl: string;
  /** `PULSAR_TOPIC`, as a full name (`persistent://public/default/...`). */
  topic: string;
  /** `PULSAR_SUBSCRIPTION`. @default {"minionize"} */
  subscription: string;
  /** `PULSAR_DECODER`. @default {"identity"} */
  decoder: "identity" | "json";
  /** `PULSAR_TOKEN`: a JWT for token authentication. */
  token: string | undefined;
  /** `PULSAR_NACK_DELAY`, in ms. @default {1000} */
  nackDelayMs: number;
  /** `PULSAR_DEAD_LETTER_TOPIC`. @default {"<topic>-<subscription>-DLQ"} */
  deadLetterTopic: string;
  /** The PEM certificates of `PULSAR_TLS_TRUST_CERTS`. */
  caCerts: string[] | undefined;
  /** `PULSAR_BATCH_INDEX_ACK`. @default {false} */
  batchIndexAck: boolean;
  /**
   * `PULSAR_PREFETCH`: messages a minion may hold at once, when more than
   * its concurrency.
   * @default {the concurrency}
   */
  prefetch: number | undefined;
}

/**
 * Reads and checks the `PULSAR_*` variables.
 *
 * @throws {ConfigError} naming the variable at fault
 */
export function readPulsarSettings(env: Env): PulsarSettings {
  const serviceUrl = env.PULSAR_CONNECTION?.trim() || "pulsar://localhost:6650";
  try {
    parseServiceUrl(serviceUrl);
  } catch {
    throw new ConfigError(
      "PULSAR_CONNECTION",
      `PULSAR_CONNECTION is '${serviceUrl}': expected pulsar://HOST:PORT or pulsar+ssl://HOST:PORT`,
    );
  }
  const given = readRequired(
    env,
    "PULSAR_TOPIC",
    "name the topic to take params from, e.g. PULSAR_TOPIC=jobs",
  );
  let topic: string;
  try {
    topic = fullTopicName(given);
  } catch (error) {
    throw new ConfigError(
      "PULSAR_TOPIC",
      `PULSAR_TOPIC is '${given}': expected NAME, TENANT/NAMESPACE/NAME or persistent://TENANT/NAMESPACE/NAME`,
      { cause: error },
    );
  }
  const subscription = env.PULSAR_SUBSCRIPTION?.trim() || "minionize";
  const trustFile = env.PULSAR_TLS_TRUST_CERTS?.trim();
  let caCerts: string[] | undefined;
  if (trustFile) {
    try {
      caCerts = [Deno.readTextFileSync(trustFile)];
    } catch (error) {
      throw new ConfigError(
        "PULSAR_TLS_TRUST_CERTS",
        `Cannot read PULSAR_TLS_TRUST_CERTS '${trustFile}': ${
          (error as Error).message
        }; give a PEM file of the certificates to trust`,
        { cause: error },
      );
    }
  }
  const deadLetter = env.PULSAR_DEAD_LETTER_TOPIC?.trim();
  let deadLetterTopic = `${topic}-${subscription}-DLQ`;
  if (deadLetter) {
    try {
      deadLetterTopic = fullTopicName(deadLetter);
    } catch (error) {
      throw new ConfigError(
        "PULSAR_DEAD_LETTER_TOPIC",
        `PULSAR_DEAD_LETTER_TOPIC is '${deadLetter}': expected NAME, TENANT/NAMESPACE/NAME or persistent://TENANT/NAMESPACE/NAME`,
        { cause: error },
      );
    }
  }
  return {
    serviceUrl,
    topic,
    subscription,
    decoder: readChoice(env, "PULSAR_DECODER", DECODERS, "identity"),
    token: env.PULSAR_TOKEN?.trim() || undefined,
    nackDelayMs: readSeconds(env, "PULSAR_NACK_DELAY") ?? 1_000,
    deadLetterTopic,
    caCerts,
    batchIndexAck: readBoolean(env, "PULSAR_BATCH_INDEX_ACK"),
    prefetch: readInteger(env, "PULSAR_PREFETCH", 1),
  };
}

const textDecoder = new TextDecoder();

function _client(settings: PulsarSettings): PulsarClient {
  return new PulsarClient({
    serviceUrl: settings.serviceUrl,
    clientVersion: `minionize-${VERSION}`,
    ...(settings.token ? { token: settings.token } : {}),
    ...(settings.caCerts ? { caCerts: settings.caCerts } : {}),
  });
}

function _id(received: Received): string {
  const { id } = received.message;
  return [
    id.ledgerId,
    id.entryId,
    id.partition ?? -1,
    id.batch_index ?? -1,
  ].join(":");
}

/**
 * A broker that cannot be reached, or refuses the connection, is a setting
 * to fix before anything is taken (exit 2), as with every other engine.
 */
function _unreachable(error: unknown): unknown {
  if (
    !(error instanceof PulsarError) ||
    !error.message.startsWith("Cannot connect to Pulsar")
  ) {
    return error;
  }
  return new ConfigError(
    "PULSAR_CONNECTION",
    `${error.message}; check that a Pulsar broker runs there and that PULSAR_CONNECTION, PULSAR_TOKEN and PULSAR_TLS_TRUST_CERTS are right`,
    { cause: error },
  );
}

/** Opens the topic for consuming under the Shared subscription. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readPulsarSettings(options.env);
  const client = _client(settings);
  let consumer: Consumer;
  try {
    consumer = await Consumer.open(client, {
      topic: settings.topic,
      subscription: settings.subscription,
      permits: Math.max(options.concurrency, settings.prefetch ?? 0),
      batchIndexAck: settings.batchIndexAck,
      consumerName: `minionize-${Deno.pid}`,
      ...(options.warn ? { warn: options.warn } : {}),
    });
  } catch (error) {
    await client.close();
    throw _unreachable(error);
  }
  let deadLetter: Promise<Producer> | undefined;
  const closing = new AbortController();
  const delayed = new Set<Promise<void>>();

  const toDeadLetter = async (received: Received, reason: string) => {
    deadLetter ??= Producer.open(client, settings.deadLetterTopic);
    deadLetter.catch(() => deadLetter = undefined);
    const { message } = received;
    await (await deadLetter).send({
      payload: message.payload,
      properties: {
        ...message.properties,
        REAL_TOPIC: message.topic,
        ORIGIN_MESSAGE_ID: _id(received),
        MINION_FAILURE: reason.slice(0, 1000),
      },
    });
  };

  return {
    name: "pulsar",
    redelivers: true,
    async next(signal): Promise<Delivery | undefined> {
      const received = await consumer.receive(signal);
      if (!received) return undefined;
      const { message } = received;
      const text = textDecoder.decode(message.payload);
      const decoded = message.unreadable
        ? {
          ok: false as const,
          param: text,
          error: `message cannot be read: ${message.unreadable}`,
        }
        : decode(text, settings.decoder);
      const id = _id(received);
      return {
        param: decoded.param,
        attempt: message.redeliveryCount + 1,
        id,
        ...(decoded.ok ? {} : { malformed: `message ${id}: ${decoded.error}` }),
        ack() {
          received.ack();
          return Promise.resolve();
        },
        nack() {
          // The delay is the client's in Pulsar: hold the message, then
          // give it back, so a failing param does not spin.
          // Closing ends the wait early: the message is given back then.
          const wait = delay(settings.nackDelayMs, { signal: closing.signal })
            .catch(() => {})
            .then(() => received.nack());
          delayed.add(wait);
          wait.finally(() => delayed.delete(wait));
          return Promise.resolve();
        },
        release() {
          // An explicit redelivery would count as an attempt; held messages
          // are given back uncounted when the consumer closes.
          received.hold();
          return Promise.resolve();
        },
        async fail(reason) {
          await toDeadLetter(received, reason);
          received.ack();
        },
      };
    },
    async close() {
      closing.abort();
      await Promise.all(delayed);
      await consumer.close();
      if (deadLetter) await (await deadLetter.catch(() => undefined))?.close();
      await client.close();
    },
  };
}

/** Publishes params, one message each (JSON text unless a string under
 * the identity decoder). Resolves once the broker stored them all. */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readPulsarSettings(options.env);
  const client = _client(settings);
  const encoder = new TextEncoder();
  let count = 0;
  try {
    const producer = await Producer.open(client, settings.topic).catch(
      (error) => {
        throw _unreachable(error);
      },
    );
    const inFlight = new Set<Promise<unknown>>();
    for await (const param of params) {
      const text = encode(param, settings.decoder);
      const sent = producer.send({ payload: encoder.encode(text) });
      inFlight.add(sent);
      sent.then(() => inFlight.delete(sent), () => {});
      count++;
      // A window of sends in flight: fast without unbounded memory.
      if (inFlight.size >= 1000) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await producer.close();
  } finally {
    await client.close();
  }
  return count;
}

/** The `pulsar` engine plug-in. */
export const pulsarEngine: EnginePlugin = {
  open,
  publish,
  // Lines reach minions as written: JSON values under the json decoder,
  // text under identity.
  lineFormat: decoderLineFormat("PULSAR_DECODER"),
};
