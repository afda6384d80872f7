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
  jetstream,
  type JetStreamManager,
  jetstreamManager,
} from "npm:@nats-io/jetstream@3.4.0";
import type { NatsConnection } from "npm:@nats-io/transport-node@3.4.0";
import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { decoderLineFormat } from "../core/param.ts";
import { type Peeked, peekingEngine } from "./_broker/dry_run.ts";
import { publishInBatches } from "./_broker/publish.ts";
import {
  connectNats,
  ensureAll,
  type NatsSettings,
  readNatsSettings,
} from "./nats_client.ts";
import { consumeStream } from "./nats_consumer.ts";

/** Opens the stream's durable consumer for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readNatsSettings(options.env);
  const nc = await connectNats(settings.url);
  let jsm: JetStreamManager;
  try {
    jsm = await ensureAll(nc, settings);
  } catch (error) {
    await nc.close();
    throw error;
  }
  if (options.dryRun) return dryRun(nc, jsm, settings);
  return consumeStream(nc, jsm, settings, options.concurrency);
}

/** Lists the stream's messages once each, taking nothing. */
function dryRun(
  nc: NatsConnection,
  jsm: JetStreamManager,
  settings: NatsSettings,
): Engine {
  async function* stored(): AsyncIterable<Peeked> {
    const last = (await jsm.streams.info(settings.stream)).state.last_seq;
    for (let seq = 1; seq <= last; seq++) {
      let message;
      try {
        message = await jsm.streams.getMessage(settings.stream, { seq });
      } catch {
        continue; // acked and removed
      }
      if (message) yield { id: String(seq), text: message.string() };
    }
  }
  return peekingEngine("nats", stored(), settings.decoder, () => nc.close());
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
  const settings = readNatsSettings(options.env);
  const nc = await connectNats(settings.url);
  try {
    const jsm = options.create
      ? await ensureAll(nc, settings)
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
    return await publishInBatches(params, {
      decoder: settings.decoder,
      flush: (texts) =>
        Promise.all(texts.map((text) => js.publish(settings.subject, text))),
    });
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
