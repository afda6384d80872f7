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

import type * as Kafka from "npm:@platformatic/kafka@2.12.1";
import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice, readInteger, readSeconds } from "../core/env.ts";
import { denial, deniedText } from "../core/denied.ts";
import { ConfigError } from "../core/errors.ts";
import {
  decode,
  type Decoder,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../core/param.ts";

/** Records fetched ahead of the tasks, at most. */
const HOLD = 1024;

/** Header of a copy: the attempt it will be. */
const ATTEMPT = "minion-attempt";

let client: typeof Kafka | undefined;

/**
 * The client library, loaded when first needed so that a failure to load
 * it is one clear line rather than a module error.
 */
async function kafka(): Promise<typeof Kafka> {
  try {
    return client ??= await import("npm:@platformatic/kafka@2.12.1");
  } catch (error) {
    throw new ConfigError(
      "MINION_ENGINE",
      `Cannot load the Kafka client (@platformatic/kafka): ${
        denial(error)
          ? deniedText(denial(error)!)
          : `${
            message(error)
          }; the client reads a WebAssembly file beside its code: run minionize from its sources (deno run -A cli.ts) or from a bundle made by 'deno task bundle', which carries that file inline`
      }`,
      { cause: error },
    );
  }
}

interface Settings {
  brokers: string[];
  topic: string;
  group: string;
  retryTopic: string;
  deadTopic: string;
  partitions: number;
  sessionMs: number;
  clientId: string;
  decoder: Decoder;
}

function readSettings(env: Env): Settings {
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

function message(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return message(error.errors[error.errors.length - 1]);
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates the missing topics (`create`), or says which is missing. Doubles
 * as the reachability check: an unreachable cluster is a settings error.
 */
async function ensureTopics(settings: Settings, create: boolean) {
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
      throw new ConfigError(
        "KAFKA_BROKERS",
        `Cannot reach Kafka at KAFKA_BROKERS '${settings.brokers.join(",")}': ${
          message(error)
        }; check that the brokers run and that this host can reach the address they advertise`,
        { cause: error },
      );
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

async function newProducer(
  settings: Settings,
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

type Record = Kafka.Message<string, string, string, string>;

/** What this minion knows of one partition it reads. */
interface PartitionState {
  topic: string;
  partition: number;
  /** Offsets handed out and not finished yet. */
  running: Set<bigint>;
  /** One past the highest offset handed out. */
  next: bigint;
  /** The offset last committed. */
  committed: bigint;
  leaderEpoch: number;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;

/** Opens the topic for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readSettings(options.env);
  await ensureTopics(settings, true);
  const topics = [settings.topic, settings.retryTopic];
  const producer = await newProducer(settings);
  // A dry run reads in a group of its own, from the real group's commits,
  // and commits nothing.
  const { Consumer, stringDeserializers } = await kafka();
  const consumer = new Consumer({
    clientId: settings.clientId,
    groupId: options.dryRun
      ? `${settings.group}.dry-run.${crypto.randomUUID()}`
      : settings.group,
    bootstrapBrokers: settings.brokers,
    deserializers: stringDeserializers,
    sessionTimeout: settings.sessionMs,
    heartbeatInterval: Math.max(100, Math.floor(settings.sessionMs / 5)),
    rebalanceTimeout: Math.max(settings.sessionMs, 10_000),
    maxWaitTime: 1_000,
    retries: true, // reconnect for as long as the minion runs
    retryDelay: 500,
  });

  const dryEnds = options.dryRun
    ? await dryRunPlan(settings, consumer)
    : undefined;
  const stream: Kafka.MessagesStream<string, string, string, string> =
    await consumer
      .consume({
        topics,
        autocommit: false,
        mode: dryEnds ? "manual" : "committed",
        fallbackMode: "earliest",
        highWaterMark: HOLD,
        ...(dryEnds ? { offsets: dryEnds.starts } : {}),
      });

  const partitions = new Map<string, PartitionState>();
  const buffer: Record[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

  stream.on("data", (record: Record) => {
    buffer.push(record);
    // Fetched records are not claimed (a partition is read by one minion
    // anyway, and commits stop below what was handed out), so holding a
    // fetch's worth costs nothing; it only bounds memory.
    if (buffer.length >= HOLD) stream.pause();
    notify();
  });
  stream.on("error", (error: Error) => {
    failure = error;
    notify();
  });
  // A rebalance: forget partitions that went elsewhere (their unfinished
  // records will run there again) and records fetched for them.
  consumer.on("consumer:group:join", (payload) => {
    const mine = new Set<string>();
    for (const { topic, partitions: list } of payload.assignments ?? []) {
      for (const partition of list) mine.add(key(topic, partition));
    }
    // A dry run's group is its own: whatever it re-reads after a rejoin,
    // it has shown already.
    for (const name of dryEnds ? [] : [...partitions.keys()]) {
      if (!mine.has(name)) partitions.delete(name);
    }
    const kept = buffer.filter((r) => mine.has(key(r.topic, r.partition)));
    buffer.splice(0, buffer.length, ...kept);
  });

  // Commits, per partition, up to the lowest unfinished record.
  let committing: Promise<void> = Promise.resolve();
  const commit = () =>
    committing = committing.then(async () => {
      if (dryEnds) return;
      const offsets = [];
      for (const state of partitions.values()) {
        let low = state.next;
        for (const offset of state.running) if (offset < low) low = offset;
        if (low > state.committed) {
          offsets.push({
            topic: state.topic,
            partition: state.partition,
            offset: low,
            leaderEpoch: state.leaderEpoch,
            state,
          });
        }
      }
      if (offsets.length === 0) return;
      try {
        await consumer.commit({
          offsets: offsets.map(({ state: _, ...offset }) => offset),
        });
        for (const { offset, state } of offsets) state.committed = offset;
      } catch {
        // A rebalance or a lost connection: the next round tries again,
        // and what was not committed runs again elsewhere at worst.
      }
    });
  const timer = setInterval(commit, 1_000);
  // A rebalance is starting: commit what is finished now, so that whoever
  // gets these partitions does not run it again. (Committing a partition
  // that went elsewhere is safe: it only covers records finished here.)
  consumer.on("consumer:group:rebalance", () => void commit());

  const copyTo = async (
    topic: string,
    record: Record,
    headers: { [name: string]: string },
  ) => {
    await producer.send({
      messages: [{
        topic,
        value: record.value,
        ...(record.key === undefined ? {} : { key: record.key }),
        headers: { ...Object.fromEntries(record.headers), ...headers },
      }],
    });
  };

  const deliveryOf = (record: Record): Delivery | undefined => {
    const name = key(record.topic, record.partition);
    let state = partitions.get(name);
    if (!state) {
      state = {
        topic: record.topic,
        partition: record.partition,
        running: new Set(),
        next: record.offset,
        committed: -1n,
        leaderEpoch: record.leaderEpoch,
      };
      partitions.set(name, state);
    }
    // After a rebalance the stream reads again from the last commit:
    // records this minion already handed out are not handed out twice.
    if (record.offset < state.next) return undefined;
    state.next = record.offset + 1n;
    state.leaderEpoch = record.leaderEpoch;
    if (!dryEnds) state.running.add(record.offset);
    const owner = state;
    const finish = () => {
      owner.running.delete(record.offset);
      return Promise.resolve();
    };
    const attempt = Math.max(1, Number(record.headers.get(ATTEMPT) ?? 1) || 1);
    const decoded = decode(record.value ?? "", settings.decoder);
    return {
      param: decoded.param,
      attempt,
      id: `${name}@${record.offset}`,
      ...(decoded.ok ? {} : { malformed: decoded.error }),
      ack: finish,
      nack: async () => {
        await copyTo(settings.retryTopic, record, {
          [ATTEMPT]: String(attempt + 1),
        });
        await finish();
      },
      release: async () => {
        if (dryEnds) return;
        await copyTo(settings.retryTopic, record, {
          [ATTEMPT]: String(attempt),
        });
        await finish();
      },
      fail: async (reason) => {
        await copyTo(settings.deadTopic, record, {
          [ATTEMPT]: String(attempt),
          "minion-error": reason.slice(0, 4000),
          "minion-source": `${name}@${record.offset}`,
        });
        await finish();
      },
    };
  };

  /** In a dry run: whether every partition was read to where it ended. */
  const dryDone = () => {
    if (!dryEnds) return false;
    for (const [name, end] of dryEnds.ends) {
      const state = partitions.get(name);
      const start = dryEnds.starts.find((s) =>
        key(s.topic, s.partition) === name
      )?.offset ?? 0n;
      if ((state?.next ?? start) < end) return false;
    }
    return buffer.length === 0;
  };

  let closed = false;
  return {
    name: "kafka",
    redelivers: true,
    async next(signal): Promise<Delivery | undefined> {
      while (true) {
        if (failure) throw failure;
        if (signal.aborted || dryDone()) return undefined;
        const record = buffer.shift();
        if (buffer.length < HOLD / 2 && stream.isPaused()) {
          stream.resume();
        }
        if (record) {
          const delivery = deliveryOf(record);
          if (delivery) return delivery;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", notify, { once: true });
          // a dry run ends when it reached the ends seen at its start
          if (dryEnds) setTimeout(notify, 200);
        });
        signal.removeEventListener("abort", notify);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      buffer.length = 0;
      await commit();
      await stream.close().catch(() => {});
      await consumer.close(true).catch(() => {});
      await producer.close().catch(() => {});
    },
  };
}

/**
 * Where a dry run starts (the real group's commits, or the beginning) and
 * where it stops (the ends of the partitions now).
 */
async function dryRunPlan(
  settings: Settings,
  probe: Kafka.Consumer<string, string, string, string>,
) {
  const { Consumer, stringDeserializers } = await kafka();
  const real = new Consumer({
    clientId: settings.clientId,
    groupId: settings.group,
    bootstrapBrokers: settings.brokers,
    deserializers: stringDeserializers,
  });
  try {
    const topics = [settings.topic, settings.retryTopic];
    const ends = await probe.listOffsets({ topics });
    const earliest = await probe.listOffsets({ topics, timestamp: -2n });
    const committed = await real.listCommittedOffsets({
      topics: [...ends].map(([topic, list]) => ({
        topic,
        partitions: list.map((_, i) => i),
      })),
    });
    const starts: { topic: string; partition: number; offset: bigint }[] = [];
    const endMap = new Map<string, bigint>();
    for (const [topic, list] of ends) {
      list.forEach((end, partition) => {
        const done = committed.get(topic)?.[partition] ?? -1n;
        const first = earliest.get(topic)?.[partition] ?? 0n;
        starts.push({ topic, partition, offset: done >= 0n ? done : first });
        endMap.set(key(topic, partition), end);
      });
    }
    return { starts, ends: endMap };
  } finally {
    await real.close().catch(() => {});
  }
}

/** Appends `params` to the topic, one record each, acknowledged by all replicas. */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readSettings(options.env);
  await ensureTopics(settings, options.create);
  const producer = await newProducer(settings);
  try {
    let count = 0;
    let batch: { topic: string; value: string }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      await producer.send({ messages: batch });
      batch = [];
    };
    for await (const param of params) {
      batch.push({
        topic: settings.topic,
        value: encode(param, settings.decoder),
      });
      count++;
      if (batch.length >= 500) await flush();
    }
    await flush();
    return count;
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
