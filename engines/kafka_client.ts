/**
 * Reaching the topics of engine `kafka`: the client library (loaded when
 * first needed), its settings, the topics it needs (a `ConfigError` when
 * the cluster cannot be reached) and a producer.
 *
 * @module
 */

import type * as Kafka from "npm:@platformatic/kafka@2.12.1";
import type { Env } from "../core/contracts.ts";
import { readChoice, readInteger, readSeconds } from "../core/env.ts";
import { denial, deniedText } from "../core/denied.ts";
import { ConfigError } from "../core/errors.ts";
import { type Decoder, DECODERS } from "../core/param.ts";
import { cannotReach, errorText } from "./_broker/server.ts";

/** Records fetched ahead of the tasks, at most. */
export const HOLD = 1024;

/** Header of a copy: the attempt it will be. */
export const ATTEMPT = "minion-attempt";

let client: typeof Kafka | undefined;

/**
 * The client library, loaded when first needed so that a failure to load
 * it is one clear line rather than a module error.
 */
export async function kafka(): Promise<typeof Kafka> {
  try {
    return client ??= await import("npm:@platformatic/kafka@2.12.1");
  } catch (error) {
    throw new ConfigError(
      "MINION_ENGINE",
      `Cannot load the Kafka client (@platformatic/kafka): ${
        denial(error)
          ? deniedText(denial(error)!)
          : `${
            errorText(error, "last")
          }; the client reads a WebAssembly file beside its code: run minionize from its sources (deno run -A cli.ts) or from a bundle made by 'deno task bundle', which carries that file inline`
      }`,
      { cause: error },
    );
  }
}

/** The settings of the `kafka` engine, read from its variables. */
export interface KafkaSettings {
  /** `KAFKA_BROKERS`, one `host:port` each. */
  brokers: string[];
  /** `KAFKA_TOPIC`. */
  topic: string;
  /** `KAFKA_GROUP`. */
  group: string;
  /** `KAFKA_RETRY_TOPIC`. */
  retryTopic: string;
  /** `KAFKA_DEAD_LETTER_TOPIC`. */
  deadTopic: string;
  /** `KAFKA_PARTITIONS`, of the topics the engine creates. */
  partitions: number;
  /** `KAFKA_SESSION_TIMEOUT`, in ms. */
  sessionMs: number;
  /** `KAFKA_CLIENT_ID`. */
  clientId: string;
  /** `KAFKA_DECODER`. */
  decoder: Decoder;
}

/**
 * Reads the `KAFKA_*` variables.
 *
 * @throws {ConfigError} naming the variable at fault
 */
export function readKafkaSettings(env: Env): KafkaSettings {
  const text = env.KAFKA_BROKERS?.trim() || "localhost:9092";
  const brokers = text.split(",").map((b) => b.trim()).filter((b) => b);
  for (const broker of brokers) {
    if (!/^[^:/\s]+:[0-9]+$/.test(broker)) {
      throw new ConfigError(
        "KAFKA_BROKERS",
        `KAFKA_BROKERS is '${text}': '${broker}' is not host:port; give a comma-separated list, e.g. KAFKA_BROKERS=kafka1:9092,kafka2:9092`,
      );
    }
  }
  const topic = env.KAFKA_TOPIC?.trim() || "minionize";
  return {
    brokers,
    topic,
    group: env.KAFKA_GROUP?.trim() || "minionize",
    retryTopic: env.KAFKA_RETRY_TOPIC?.trim() || `${topic}.retry`,
    deadTopic: env.KAFKA_DEAD_LETTER_TOPIC?.trim() || `${topic}.failed`,
    partitions: readInteger(env, "KAFKA_PARTITIONS", 1) ?? 12,
    sessionMs: readSeconds(env, "KAFKA_SESSION_TIMEOUT") ?? 30_000,
    clientId: env.KAFKA_CLIENT_ID?.trim() || "minionize",
    decoder: readChoice(env, "KAFKA_DECODER", DECODERS, "identity"),
  };
}

/**
 * Creates the missing topics (`create`), or says which is missing. Doubles
 * as the reachability check: an unreachable cluster is a settings error.
 */
export async function ensureTopics(
  settings: KafkaSettings,
  create: boolean,
): Promise<void> {
  const { Admin } = await kafka();
  const admin = new Admin({
    clientId: settings.clientId,
    bootstrapBrokers: settings.brokers,
    retries: 1,
    connectTimeout: 5_000,
    timeout: 10_000,
  });
  try {
    let existing: string[];
    try {
      existing = await admin.listTopics();
    } catch (error) {
      throw cannotReach({
        kind: "Kafka",
        variable: "KAFKA_BROKERS",
        address: settings.brokers.join(","),
        verb: "reach",
        which: "last",
        fix:
          "check that the brokers run and that this host can reach the address they advertise",
      }, error);
    }
    const wanted = [settings.topic, settings.retryTopic, settings.deadTopic];
    const missing = wanted.filter((topic) => !existing.includes(topic));
    if (missing.length === 0) return;
    if (!create) {
      throw new ConfigError(
        "KAFKA_TOPIC",
        `Cannot publish: Kafka topic '${missing[0]}' does not exist at '${
          settings.brokers.join(",")
        }'; create it with 'minionize publish --create', or check KAFKA_TOPIC`,
      );
    }
    try {
      await admin.createTopics({
        topics: missing,
        partitions: settings.partitions,
        replicas: -1, // the cluster's default
      });
    } catch (error) {
      // Another minion may have created them meanwhile.
      const now = await admin.listTopics();
      if (!missing.every((topic) => now.includes(topic))) throw error;
    }
  } finally {
    await admin.close().catch(() => {});
  }
}

/** A producer of string records, writing each record once. */
export async function newProducer(
  settings: KafkaSettings,
): Promise<Kafka.Producer<string, string, string, string>> {
  const { Producer, stringSerializers } = await kafka();
  return new Producer({
    clientId: settings.clientId,
    bootstrapBrokers: settings.brokers,
    serializers: stringSerializers,
    retries: 10,
    // A retried send must not write a record twice (seen on fresh topics,
    // whose first sends can fail on some partitions only).
    idempotent: true,
  });
}

/** A record as the engine reads it. */
export type KafkaRecord = Kafka.Message<string, string, string, string>;

/** The name of a partition, as ids and the engine's maps use it. */
export const partitionKey = (topic: string, partition: number): string =>
  `${topic}:${partition}`;
