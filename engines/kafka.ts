/**
 * Engine `kafka`: params are the records of a Kafka topic, shared out by a
 * consumer group (each partition read by one minion at a time). Kafka keeps
 * one offset per partition and no per-message acks, so the engine tracks
 * which records of each partition are still running and commits, about
 * every second, only up to the lowest unfinished one: at-least-once, and a
 * minion that dies leaves its partitions, from its last commit, to the
 * others once its session times out.
 *
 * - failure with attempts left: a copy goes to the retry topic (read by the
 *   same group) with its `minion-attempt` header one higher;
 * - failure for good, or a record that is not JSON: a copy goes to the dead
 *   letter topic with `minion-error`, `minion-attempt` and where it came
 *   from in its headers;
 * - SIGTERM: unfinished records are copied to the retry topic with their
 *   attempt unchanged, so whoever reads it next runs them, uncounted;
 * - a dead minion: its partitions resume from the last commit elsewhere
 *   (Kafka counts nothing, so that run is not counted either).
 *
 * Client: `@platformatic/kafka`, a maintained pure-JS client tested against
 * Kafka 3.5 to 4.2 (KafkaJS has had no release since 2023, before Kafka 4
 * dropped old protocol versions).
 *
 * Settings: `KAFKA_BROKERS` (comma-separated `host:port`, default
 * `localhost:9092`), `KAFKA_TOPIC` (default `minionize`), `KAFKA_GROUP`
 * (default `minionize`), `KAFKA_RETRY_TOPIC` (default `<topic>.retry`),
 * `KAFKA_DEAD_LETTER_TOPIC` (default `<topic>.failed`), `KAFKA_PARTITIONS`
 * (partitions of topics the engine creates, default 12),
 * `KAFKA_SESSION_TIMEOUT` (seconds before a silent minion's partitions move,
 * default 30), `KAFKA_CLIENT_ID` (default `minionize`), `KAFKA_DECODER`
 * (`identity`, the default: the body is the param, or `json`: the body
 * is a JSON value, and a body that is not JSON is recorded failed).
 *
 * @module
 */

import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { decoderLineFormat } from "../core/param.ts";
import { publishInBatches } from "./_broker/publish.ts";
import {
  ensureTopics,
  newProducer,
  readKafkaSettings,
} from "./kafka_client.ts";
import { consumeTopics } from "./kafka_consumer.ts";

/** Opens the topic for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  return await consumeTopics(readKafkaSettings(options.env), options.dryRun);
}

/** Appends `params` to the topic, one record each, acknowledged by all replicas. */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readKafkaSettings(options.env);
  await ensureTopics(settings, options.create);
  const producer = await newProducer(settings);
  try {
    return await publishInBatches(params, {
      decoder: settings.decoder,
      size: 500,
      flush: (texts) =>
        producer.send({
          messages: texts.map((value) => ({ topic: settings.topic, value })),
        }),
    });
  } finally {
    await producer.close().catch(() => {});
  }
}

/**
 * The `kafka` engine plug-in, as the registry hands it out.
 *
 * @example Publish two params, then run a function over them (needs a server)
 * ```ts ignore
 * import { kafkaEngine } from "./kafka.ts";
 * import { runMinion } from "../core/minion.ts";
 *
 * const env = { KAFKA_BROKERS: "127.0.0.1:9092", KAFKA_TOPIC: "sweep" };
 * async function* params() {
 *   yield "a";
 *   yield "b";
 * }
 * await kafkaEngine.publish!(params(), { env, create: true });
 * const engine = await kafkaEngine.open({ env, concurrency: 2, dryRun: false });
 * await runMinion({
 *   engine,
 *   concurrency: 2,
 *   idleExitMs: 5000,
 *   callback: { process: (param) => console.log(param) },
 * });
 * await engine.close();
 * ```
 */
export const kafkaEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("KAFKA_DECODER"),
};
