/**
 * What the minion loop costs on RabbitMQ and Kafka. For each
 * engine, 10,000 no-op params drained by one minion (`-j 8`, an in-process
 * no-op function) next to a plain loop written with the same client library
 * that only receives and acknowledges (RabbitMQ: prefetch 8, manual acks,
 * TCP_NODELAY as the engine sets it;
 * Kafka: a consumer group with the client's own autocommit), on servers
 * started for the run (3 rounds, medians). Target: minion throughput
 * ≥ 0.8× the plain loop. Also shown: the engine alone (its `next` and `ack`
 * in a loop, no minion loop) and the minion loop alone on an in-memory
 * engine, to tell the engine's cost from the loop's.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import * as amqp from "amqplib";
import { Consumer, stringDeserializers } from "@platformatic/kafka";
import type { EnginePlugin, JsonValue } from "../core/contracts.ts";
import { runMinion } from "../core/minion.ts";
import { kafkaEngine } from "../engines/kafka.ts";
import { rabbitmqEngine } from "../engines/rabbitmq.ts";
import { startKafka } from "../tests/services/kafka.ts";
import { startRabbitmq } from "../tests/services/rabbitmq.ts";
import { median, printTable } from "./_measure.ts";

const PARAMS = 10_000;
const JOBS = 8;
const ROUNDS = 3;

async function* numbers(): AsyncIterable<JsonValue> {
  for (let i = 0; i < PARAMS; i++) yield i;
}

/** Seconds for one minion to finish PARAMS no-op params on `env`'s queue. */
async function minion(
  plugin: EnginePlugin,
  env: Record<string, string>,
): Promise<number> {
  const started = performance.now();
  const engine = await plugin.open({ env, concurrency: JOBS, dryRun: false });
  const stop = new AbortController();
  let done = 0;
  let finished = 0;
  try {
    // No reporter, as with the CLI's default `null` reporter: the callback
    // counts, and a run that succeeds while the minion stops is still acked.
    await runMinion({
      engine,
      callback: {
        process: () => {
          if (++done === PARAMS) {
            finished = performance.now();
            stop.abort("done");
          }
        },
      },
      concurrency: JOBS,
      signal: stop.signal,
    });
  } finally {
    await engine.close();
  }
  return (finished - started) / 1000;
}

/**
 * Seconds for the engine alone (its `next` and `ack` in a loop, 8 acks in
 * flight, no minion loop) to take PARAMS params: what the engine costs.
 */
async function engineAlone(
  plugin: EnginePlugin,
  env: Record<string, string>,
): Promise<number> {
  const started = performance.now();
  const engine = await plugin.open({ env, concurrency: JOBS, dryRun: false });
  const signal = new AbortController().signal;
  const acks: Promise<void>[] = [];
  try {
    for (let i = 0; i < PARAMS; i++) {
      const delivery = await engine.next(signal);
      acks.push(delivery!.ack());
      if (acks.length === JOBS) await acks.shift();
    }
    await Promise.all(acks);
    return (performance.now() - started) / 1000;
  } finally {
    await engine.close();
  }
}

/** Seconds for a bare amqplib consumer to receive and ack PARAMS messages. */
async function plainRabbitmq(env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const connection = await amqp.connect(env.AMQP_URL!, { noDelay: true });
  const channel = await connection.createChannel();
  await channel.prefetch(JOBS);
  let count = 0;
  await new Promise<void>((resolve) => {
    channel.consume(env.AMQP_QUEUE!, (msg) => {
      if (!msg) return;
      JSON.parse(msg.content.toString());
      channel.ack(msg);
      if (++count === PARAMS) resolve();
    });
  });
  const seconds = (performance.now() - started) / 1000;
  await channel.close();
  await connection.close();
  return seconds;
}

/** Seconds for a bare consumer-group reader to take PARAMS records. */
async function plainKafka(env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const consumer = new Consumer({
    clientId: "bench",
    groupId: env.KAFKA_GROUP!,
    bootstrapBrokers: [env.KAFKA_BROKERS!],
    deserializers: stringDeserializers,
    maxWaitTime: 1_000,
  });
  const stream = await consumer.consume({
    topics: [env.KAFKA_TOPIC!],
    mode: "committed",
    fallbackMode: "earliest",
    autocommit: 1_000,
  });
  let count = 0;
  for await (const record of stream) {
    JSON.parse(record.value ?? "null");
    if (++count === PARAMS) break;
  }
  const seconds = (performance.now() - started) / 1000;
  await stream.close();
  await consumer.close(true);
  return seconds;
}

/**
 * Seconds for the minion loop alone to run PARAMS no-op params from an
 * in-memory engine: the floor under any broker engine.
 */
async function coreLoop(): Promise<number> {
  let n = 0;
  const settle = () => Promise.resolve();
  const started = performance.now();
  await runMinion({
    engine: {
      name: "memory",
      redelivers: true,
      next: () =>
        Promise.resolve(
          n < PARAMS
            ? {
              param: n++,
              attempt: 1,
              id: String(n),
              ack: settle,
              nack: settle,
              release: settle,
              fail: settle,
            }
            : undefined,
        ),
      close: settle,
    },
    callback: { process: () => {} },
    concurrency: JOBS,
  });
  return (performance.now() - started) / 1000;
}

const rabbit = await startRabbitmq();
const kafka = await startKafka();
const rows: (string | number)[][] = [[
  "engine",
  "plain loop s",
  "engine alone s",
  "minion -j8 s",
  "engine alone / plain",
  "minion / plain",
]];
const verdicts: string[] = [];
try {
  const cases: [
    string,
    EnginePlugin,
    (round: number) => Record<string, string>,
    (env: Record<string, string>) => Promise<number>,
  ][] = [
    ["rabbitmq", rabbitmqEngine, (round) => ({
      ...rabbit.env,
      AMQP_QUEUE: `bench-${round}`,
    }), plainRabbitmq],
    ["kafka", kafkaEngine, (round) => ({
      ...kafka.env,
      KAFKA_TOPIC: `bench-${round}`,
      KAFKA_GROUP: `bench-${round}`,
      KAFKA_PARTITIONS: "6",
    }), plainKafka],
  ];
  for (const [name, plugin, envOf, plain] of cases) {
    const plainTimes: number[] = [];
    const aloneTimes: number[] = [];
    const minionTimes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // The same data on a queue (or topic and group) of each contender.
      const envs = [0, 1, 2].map((k) => envOf(round * 3 + k));
      for (const env of envs) {
        await plugin.publish!(numbers(), { env, create: true });
      }
      const runs: [number[], () => Promise<number>][] = [
        [plainTimes, () => plain(envs[0]!)],
        [aloneTimes, () => engineAlone(plugin, envs[1]!)],
        [minionTimes, () => minion(plugin, envs[2]!)],
      ];
      // A different one goes first each round: none always meets a colder
      // server.
      for (let k = 0; k < runs.length; k++) {
        const [times, run] = runs[(round + k) % runs.length]!;
        times.push(await run());
      }
    }
    const p = median(plainTimes);
    const a = median(aloneTimes);
    const m = median(minionTimes);
    rows.push([
      name,
      p.toFixed(2),
      a.toFixed(2),
      m.toFixed(2),
      (p / a).toFixed(2),
      (p / m).toFixed(2),
    ]);
    verdicts.push(
      `${name}: minion throughput = ${
        (p / m).toFixed(2)
      }× the plain loop (target ≥ 0.80): ${p / m >= 0.8 ? "met" : "NOT met"}`,
    );
  }
} finally {
  await rabbit.stop();
  await kafka.stop();
}
const floors: number[] = [];
for (let round = 0; round < ROUNDS; round++) floors.push(await coreLoop());
const floor = median(floors);
rows.push([
  "(minion loop, in-memory engine)",
  "",
  "",
  floor.toFixed(2),
  "",
  "",
]);
console.log(
  `RabbitMQ, Kafka: ${PARAMS} no-op params, ${JOBS} in flight, ${ROUNDS} rounds, medians`,
);
printTable(rows);
for (const line of verdicts) console.log(line);
