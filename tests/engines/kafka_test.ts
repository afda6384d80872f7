import { assertEquals, assertMatch, assertRejects } from "../_assert.ts";
import {
  Consumer,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { kafkaEngine } from "../../engines/kafka.ts";
import type { Env, JsonValue } from "../../core/contracts.ts";
import { ConfigError } from "../../core/errors.ts";
import { runMinion } from "../../core/minion.ts";
import { bundleDir } from "../_bundle.ts";
import { freePort } from "../services/harness.ts";
import { kafkaAvailable, startKafka } from "../services/kafka.ts";
import { brokerSteps } from "./_broker_cases.ts";
import { killMidTask } from "./_minions.ts";

const ok = kafkaAvailable();

async function* each<T>(values: T[]): AsyncIterable<T> {
  yield* values;
}

/** A fresh topic and group on `server`, with a short session timeout. */
function queueEnv(
  base: Record<string, string>,
  name = `t-${crypto.randomUUID().slice(0, 8)}`,
): Record<string, string> {
  return {
    ...base,
    KAFKA_TOPIC: name,
    KAFKA_GROUP: `g-${name}`,
    KAFKA_PARTITIONS: "6",
    KAFKA_SESSION_TIMEOUT: "3",
  };
}

/** Drains the queue named in `env` in-process with `process`. */
async function drain(
  env: Env,
  process: (param: JsonValue, attempt: number) => Promise<void> | void,
  options: {
    retries?: number;
    concurrency?: number;
    dryRun?: boolean;
    idleMs?: number;
  } = {},
) {
  const concurrency = options.concurrency ?? 2;
  const engine = await kafkaEngine.open({
    env,
    concurrency,
    dryRun: options.dryRun ?? false,
  });
  try {
    return await runMinion({
      engine,
      callback: {
        process: (param, context) => process(param, context.attempt),
      },
      concurrency,
      retries: options.retries ?? 0,
      idleExitMs: options.idleMs ?? 6000,
      dryRun: options.dryRun ?? false,
      print: () => {},
      warn: () => {},
    });
  } finally {
    await engine.close();
  }
}

/** The records of `topic` from its beginning. */
async function readAll(
  brokers: string,
  topic: string,
): Promise<{ value: string; headers: Map<string, string> }[]> {
  const consumer = new Consumer({
    clientId: "test",
    groupId: `read-${crypto.randomUUID()}`,
    bootstrapBrokers: [brokers],
    deserializers: stringDeserializers,
  });
  try {
    const ends = await consumer.listOffsets({ topics: [topic] });
    const total = (ends.get(topic) ?? []).reduce((a, b) => a + Number(b), 0);
    const records: { value: string; headers: Map<string, string> }[] = [];
    if (total === 0) return records;
    const stream = await consumer.consume({
      topics: [topic],
      mode: "earliest",
      autocommit: false,
      maxWaitTime: 500,
    });
    for await (const record of stream) {
      records.push({ value: record.value ?? "", headers: record.headers });
      if (records.length >= total) break;
    }
    await stream.close();
    return records;
  } finally {
    await consumer.close(true);
  }
}

Deno.test({
  name: "kafka engine against a real Kafka broker",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await startKafka();
    const dir = await Deno.makeTempDir({ prefix: "minionize-kafka-test-" });
    try {
      // 500 params over 3 minion processes: tests/conformance/; giving
      // back on SIGTERM, riding out a broker restart, one line when
      // unreachable: the broker cases.
      await brokerSteps(t, {
        engine: "kafka",
        scope: (tag) => queueEnv({}, tag),
        unreachable: { KAFKA_BROKERS: `127.0.0.1:${freePort()}` },
        releaseKeepsAttempt: true,
        // Kafka keeps offsets, not a count of what is left.
        countsRemaining: false,
        // A new member waits for the group to rebalance before it reads.
        idleExitSeconds: 12,
        dropConnections: (_env, service) => service.restart(),
      }, server);
      await t.step(
        "--retries 2 runs a failing param 3 times, then dead-letters it with the error",
        async () => {
          const env = queueEnv(server.env);
          await kafkaEngine.publish!(each(["bad"]), { env, create: true });
          const attempts: number[] = [];
          const summary = await drain(env, (_param, attempt) => {
            attempts.push(attempt);
            throw new Error("boom");
          }, { retries: 2 });
          assertEquals(attempts, [1, 2, 3]);
          assertEquals([summary.failed, summary.retried], [1, 2]);
          const dead = await readAll(
            server.env.KAFKA_BROKERS!,
            `${env.KAFKA_TOPIC}.failed`,
          );
          assertEquals(dead.length, 1);
          assertEquals(dead[0]!.value, "bad");
          assertEquals(dead[0]!.headers.get("minion-error"), "boom");
          assertEquals(dead[0]!.headers.get("minion-attempt"), "3");
        },
      );

      await t.step(
        "under the json decoder, a message that is not JSON is reported failed without running",
        async () => {
          const env: Record<string, string> = {
            ...queueEnv(server.env),
            KAFKA_DECODER: "json",
          };
          await kafkaEngine.publish!(each([1]), { env, create: true });
          const producer = new Producer({
            clientId: "test",
            bootstrapBrokers: [server.env.KAFKA_BROKERS!],
            serializers: stringSerializers,
          });
          await producer.send({
            messages: [{ topic: env.KAFKA_TOPIC!, value: "{oops" }],
          });
          await producer.close();
          const ran: JsonValue[] = [];
          const summary = await drain(env, (param) => void ran.push(param));
          assertEquals(ran, [1]);
          assertEquals([summary.done, summary.failed], [1, 1]);
          const dead = await readAll(
            server.env.KAFKA_BROKERS!,
            `${env.KAFKA_TOPIC}.failed`,
          );
          assertEquals(dead.map((r) => r.value), ["{oops"]);
          assertMatch(String(dead[0]!.headers.get("minion-error")), /not JSON/);
        },
      );

      await t.step("a dry run consumes nothing", async () => {
        const env = queueEnv(server.env);
        await kafkaEngine.publish!(each(["a", "b", "c"]), {
          env,
          create: true,
        });
        // Published once each, even on a topic just created.
        assertEquals(
          (await readAll(server.env.KAFKA_BROKERS!, env.KAFKA_TOPIC!))
            .map((r) => r.value).sort(),
          ["a", "b", "c"],
        );
        const ran: JsonValue[] = [];
        const engine = await kafkaEngine.open({
          env,
          concurrency: 2,
          dryRun: true,
        });
        const printed: string[] = [];
        try {
          await runMinion({
            engine,
            callback: { process: (param) => void ran.push(param) },
            concurrency: 2,
            dryRun: true,
            print: (line) => printed.push(line),
          });
        } finally {
          await engine.close();
        }
        assertEquals(ran, []);
        assertEquals(printed.sort(), ["a", "b", "c"]);
        // Nothing was committed: the real group still finds all three.
        const seen: JsonValue[] = [];
        await drain(env, (param) => void seen.push(param), { idleMs: 4000 });
        assertEquals(seen.sort(), ["a", "b", "c"]);
      });

      await t.step(
        "a param of a minion killed with SIGKILL is run again once its session times out",
        async () => {
          const env = queueEnv(server.env);
          await kafkaEngine.publish!(each(["doomed"]), {
            env,
            create: true,
          });
          await killMidTask(dir, { ...env, MINION_ENGINE: "kafka" });
          const attempts: number[] = [];
          // Its partitions move once its session times out (3 s here);
          // Kafka counts no deliveries, so the attempt is not counted.
          const summary = await drain(env, (_p, attempt) => {
            attempts.push(attempt);
          }, { idleMs: 15_000 });
          assertEquals(summary.done, 1);
          assertEquals(attempts, [1]);
        },
      );

      await t.step(
        "the bundled single file publishes to and drains a topic from an empty directory",
        async () => {
          const bundled = await bundleDir();
          try {
            const env = queueEnv(server.env);
            assertEquals(
              await bundled.run(["publish", "--engine", "kafka", "--create"], {
                env,
                stdin: "k1\nk2\n",
              }),
              {
                code: 0,
                stdout: "",
                stderr: "minionize: published 2 params (engine kafka)\n",
              },
            );
            const ran = await bundled.run(
              ["--engine", "kafka", "--idle-exit", "3", "echo", "hi"],
              { env },
            );
            assertEquals(
              [ran.code, ran.stdout.split("\n").filter((l) => l).sort()],
              [0, ["hi k1", "hi k2"]],
              ran.stderr,
            );
          } finally {
            await bundled.remove();
          }
        },
      );
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("kafka engine names the KAFKA_BROKERS it cannot reach", async () => {
  const brokers = `127.0.0.1:${freePort()}`;
  const error = await assertRejects(
    () =>
      kafkaEngine.open({
        env: { KAFKA_BROKERS: brokers },
        concurrency: 1,
        dryRun: false,
      }),
    ConfigError,
  );
  assertMatch(
    error.message,
    new RegExp(`^Cannot reach Kafka at KAFKA_BROKERS '${brokers}'`),
  );
});

Deno.test("kafka engine rejects KAFKA_BROKERS without ports before connecting", async () => {
  await assertRejects(
    () =>
      kafkaEngine.open({
        env: { KAFKA_BROKERS: "kafka1:9092,kafka2" },
        concurrency: 1,
        dryRun: false,
      }),
    ConfigError,
    "'kafka2' is not host:port",
  );
});
