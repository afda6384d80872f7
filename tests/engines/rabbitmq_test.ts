import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
} from "../_assert.ts";
import { Buffer } from "node:buffer";
import * as amqp from "amqplib";
import { rabbitmqEngine } from "../../engines/rabbitmq.ts";
import type { Env, JsonValue } from "../../core/contracts.ts";
import { ConfigError } from "../../core/errors.ts";
import { runMinion } from "../../core/minion.ts";
import { freePort } from "../services/harness.ts";
import { rabbitmqAvailable, startRabbitmq } from "../services/rabbitmq.ts";
import { brokerSteps } from "./_broker_cases.ts";
import { killMidTask } from "./_minions.ts";

const ok = rabbitmqAvailable();

async function* each<T>(values: T[]): AsyncIterable<T> {
  yield* values;
}

/** A fresh queue's settings on `server`. */
function queueEnv(base: Record<string, string>): Record<string, string> {
  return { ...base, AMQP_QUEUE: `q-${crypto.randomUUID().slice(0, 8)}` };
}

/** Drains the queue named in `env` in-process with `process`. */
async function drain(
  env: Env,
  process: (param: JsonValue, attempt: number) => Promise<void> | void,
  options: { retries?: number; concurrency?: number; dryRun?: boolean } = {},
) {
  const concurrency = options.concurrency ?? 2;
  const engine = await rabbitmqEngine.open({
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
      idleExitMs: 1500,
      dryRun: options.dryRun ?? false,
      print: () => {},
      warn: () => {},
    });
  } finally {
    await engine.close();
  }
}

/** The messages of `queue`, taken off it. */
async function takeAll(url: string, queue: string): Promise<amqp.Message[]> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const messages: amqp.Message[] = [];
    while (true) {
      const msg = await channel.get(queue, { noAck: true });
      if (msg === false) return messages;
      messages.push(msg);
    }
  } finally {
    await connection.close();
  }
}

Deno.test({
  name: "rabbitmq engine against a real RabbitMQ node",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await startRabbitmq();
    const dir = await Deno.makeTempDir({ prefix: "minionize-rabbitmq-test-" });
    try {
      // 500 params over 3 minion processes: tests/conformance/; giving
      // back on SIGTERM, reconnecting, one line when unreachable: the
      // broker cases.
      await brokerSteps(t, {
        engine: "rabbitmq",
        scope: (tag) => ({ AMQP_QUEUE: tag }),
        unreachable: { AMQP_URL: `amqp://127.0.0.1:${freePort()}` },
        releaseKeepsAttempt: true,
        // Its count is of messages ready, not of those a consumer holds.
        countsRemaining: false,
        dropConnections: async (_env, service) =>
          void await service.ctl("close_all_connections", "test"),
      }, server);
      await t.step(
        "--retries 2 runs a failing param 3 times, then dead-letters it with the error",
        async () => {
          const env = queueEnv(server.env);
          await rabbitmqEngine.publish!(each(["bad"]), { env, create: true });
          const attempts: number[] = [];
          const summary = await drain(env, (_param, attempt) => {
            attempts.push(attempt);
            throw new Error("boom");
          }, { retries: 2 });
          assertEquals(attempts, [1, 2, 3]);
          assertEquals([summary.failed, summary.retried], [1, 2]);
          const dead = await takeAll(
            server.env.AMQP_URL!,
            `${env.AMQP_QUEUE}.failed`,
          );
          assertEquals(dead.length, 1);
          assertEquals(dead[0]!.content.toString(), "bad");
          assertEquals(dead[0]!.properties.headers?.["x-minion-error"], "boom");
          assertEquals(
            await takeAll(server.env.AMQP_URL!, env.AMQP_QUEUE!),
            [],
          );
        },
      );

      await t.step(
        "under the json decoder, a message that is not JSON is reported failed without running",
        async () => {
          const env: Record<string, string> = {
            ...queueEnv(server.env),
            AMQP_DECODER: "json",
          };
          await rabbitmqEngine.publish!(each([1]), { env, create: true });
          const connection = await amqp.connect(server.env.AMQP_URL!);
          const channel = await connection.createConfirmChannel();
          channel.sendToQueue(env.AMQP_QUEUE!, Buffer.from("{oops"));
          await channel.waitForConfirms();
          await connection.close();
          const ran: JsonValue[] = [];
          const summary = await drain(env, (param) => void ran.push(param));
          assertEquals(ran, [1]);
          assertEquals([summary.done, summary.failed], [1, 1]);
          const dead = await takeAll(
            server.env.AMQP_URL!,
            `${env.AMQP_QUEUE}.failed`,
          );
          assertEquals(dead.map((m) => m.content.toString()), ["{oops"]);
          assertMatch(
            String(dead[0]!.properties.headers?.["x-minion-error"]),
            /not JSON/,
          );
        },
      );

      await t.step("a dry run consumes nothing", async () => {
        const env = queueEnv(server.env);
        await rabbitmqEngine.publish!(each(["a", "b", "c"]), {
          env,
          create: true,
        });
        const ran: JsonValue[] = [];
        const engine = await rabbitmqEngine.open({
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
        const left = await takeAll(server.env.AMQP_URL!, env.AMQP_QUEUE!);
        assertEquals(left.length, 3);
      });

      await t.step(
        "a param of a minion killed with SIGKILL is redelivered",
        async () => {
          const env = queueEnv(server.env);
          await rabbitmqEngine.publish!(each(["doomed"]), {
            env,
            create: true,
          });
          await killMidTask(dir, { ...env, MINION_ENGINE: "rabbitmq" });
          const attempts: number[] = [];
          const summary = await drain(env, (_p, attempt) => {
            attempts.push(attempt);
          });
          assertEquals(summary.done, 1);
          assertEquals(attempts, [2]);
        },
      );
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("rabbitmq engine names the AMQP_URL it cannot reach, its password hidden", async () => {
  const url = `amqp://guest:secret@127.0.0.1:${freePort()}`;
  const error = await assertRejects(
    () =>
      rabbitmqEngine.open({
        env: { AMQP_URL: url },
        concurrency: 1,
        dryRun: false,
      }),
    ConfigError,
  );
  assertMatch(
    error.message,
    /^Cannot connect to RabbitMQ at AMQP_URL 'amqp:\/\/guest:\*\*\*@127/,
  );
  assert(!error.message.includes("secret"));
});

Deno.test("rabbitmq engine rejects an AMQP_URL that is not amqp:// before connecting", async () => {
  await assertRejects(
    () =>
      rabbitmqEngine.open({
        env: { AMQP_URL: "http://user:pw@host:5672" },
        concurrency: 1,
        dryRun: false,
      }),
    ConfigError,
    "AMQP_URL is 'http://user:***@host:5672': expected an amqp:// or amqps:// URL",
  );
});

Deno.test({
  name:
    "rabbitmq engine consumes again after the server closes a channel held past its consumer_timeout",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startRabbitmq({ consumerTimeoutMs: 1500 });
    try {
      const env = queueEnv(server.env);
      await rabbitmqEngine.publish!(each(["long", "short"]), {
        env,
        create: true,
      });
      const runs: string[] = [];
      await drain(env, async (param) => {
        runs.push(String(param));
        // Only the first run outlasts the timeout.
        if (param === "long" && runs.length === 1) {
          await new Promise((resolve) => setTimeout(resolve, 4000));
        }
      }, { concurrency: 1 });
      assertEquals(runs.filter((r) => r === "long").length, 2);
      assert(runs.includes("short"));
      assertEquals(await takeAll(server.env.AMQP_URL!, env.AMQP_QUEUE!), []);
    } finally {
      await server.stop();
    }
  },
});
