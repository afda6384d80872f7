/**
 * Choosing an engine: drains the same COUNT no-op params through the
 * real minion (`minionize()` with a function that does nothing, `-j 8`, in
 * its own process, as a user's script runs) on every engine, one after the
 * other in one run, each against its real server started on loopback by the
 * test harness; first one minion, then MANY minions at once on the same
 * queue. The rate is COUNT over the time from the first param started (by
 * any minion) to the last one finished, so process start-up is left out.
 * Best of ROUNDS rounds.
 *
 * Run: `deno run -A bench/engines_drain.ts [COUNT]` (`ONLY=execo,redis`,
 * `MANY=4`, `ROUNDS=2`; install servers with `bash tests/services/install.sh`).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import type { JsonValue } from "../core/contracts.ts";
import { ENGINES } from "../runner/registry.ts";
import type { RunningService } from "../tests/services/harness.ts";
import { startKafka } from "../tests/services/kafka.ts";
import { startNats } from "../tests/services/nats.ts";
import { startPostgres } from "../tests/services/postgres.ts";
import { startPstest } from "../tests/services/pstest.ts";
import { startPulsar } from "../tests/services/pulsar.ts";
import { startRabbitmq } from "../tests/services/rabbitmq.ts";
import { startRedis } from "../tests/services/redis.ts";

const COUNT = Number(Deno.args[0] ?? 10_000);
const MANY = Number(Deno.env.get("MANY") ?? 4);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 2);
const JOBS = 8;
const CHILD = new URL("./_drain_child.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

interface Engine {
  /** Starts its server, or none for the shared-directory and file engines. */
  start?: () => Promise<RunningService>;
  /** Variables naming a fresh queue called `tag` under `dir`. */
  scope: (tag: string, dir: string) => Record<string, string>;
  /** Whether many minions can share one queue. */
  shared: boolean;
}

const ENGINE_SETUP: Record<string, Engine> = {
  execo: {
    scope: (tag, dir) => ({ EXECO_PERSISTENCE_DIR: `${dir}/${tag}` }),
    shared: true,
  },
  file: {
    scope: (tag, dir) => ({ FILE_PATH: `${dir}/${tag}.txt` }),
    shared: false,
  },
  redis: {
    start: startRedis,
    scope: (t) => ({ REDIS_STREAM: t }),
    shared: true,
  },
  postgres: {
    start: startPostgres,
    scope: (t) => ({ POSTGRES_TABLE: t }),
    shared: true,
  },
  nats: { start: startNats, scope: (t) => ({ NATS_STREAM: t }), shared: true },
  rabbitmq: {
    start: startRabbitmq,
    scope: (t) => ({ AMQP_QUEUE: t }),
    shared: true,
  },
  kafka: {
    start: startKafka,
    scope: (t) => ({ KAFKA_TOPIC: t, KAFKA_SESSION_TIMEOUT: "6" }),
    shared: true,
  },
  pulsar: {
    start: startPulsar,
    scope: (t) => ({ PULSAR_TOPIC: t }),
    shared: true,
  },
  google: {
    start: startPstest,
    scope: (t) => ({
      GOOGLE_TOPIC_ID: `t-${t}`,
      GOOGLE_SUBSCRIPTION: `s-${t}`,
    }),
    shared: true,
  },
};

async function publish(engine: string, env: Record<string, string>) {
  const plugin = await ENGINES[engine]!();
  async function* params(): AsyncIterable<JsonValue> {
    for (let i = 0; i < COUNT; i++) yield `p${i}`;
  }
  await plugin.publish!(params(), { env, create: true });
}

interface Drained {
  first: number;
  last: number;
  done: number;
}

/** Runs `minions` minion processes on one queue; params per second. */
async function drain(
  env: Record<string, string>,
  minions: number,
): Promise<number> {
  const children = Array.from(
    { length: minions },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", `--config=${CONFIG}`, CHILD],
        env: {
          ...env,
          MINION_CONCURRENCY: String(JOBS),
          MINION_REPORTER: "null",
          // Brokers never drain: a minion leaves once nothing came for 2 s.
          MINION_IDLE_EXIT: "2",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn(),
  );
  const timer = setTimeout(() => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
  }, 300_000);
  const results: Drained[] = [];
  try {
    for (const child of children) {
      const output = await child.output();
      if (!output.success) throw new Error(`a minion exited ${output.code}`);
      results.push(JSON.parse(new TextDecoder().decode(output.stdout)));
    }
  } finally {
    clearTimeout(timer);
  }
  const done = results.reduce((sum, r) => sum + r.done, 0);
  if (done < COUNT) throw new Error(`the minions did ${done} of ${COUNT}`);
  const worked = results.filter((r) => r.done > 0);
  const span = Math.max(...worked.map((r) => r.last)) -
    Math.min(...worked.map((r) => r.first));
  return COUNT / (Math.max(1, span) / 1000);
}

const rows: string[][] = [];
const only = Deno.env.get("ONLY")?.split(",");
for (const name of Object.keys(ENGINE_SETUP)) {
  if (only && !only.includes(name)) continue;
  const setup = ENGINE_SETUP[name]!;
  const dir = await Deno.makeTempDir({ prefix: "p10-" });
  let service: RunningService | undefined;
  try {
    service = await setup.start?.();
    const base = { ...service?.env, MINION_ENGINE: name };
    let one = 0;
    let many = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const oneEnv = { ...base, ...setup.scope(`one${round}`, dir) };
      await publish(name, oneEnv);
      one = Math.max(one, await drain(oneEnv, 1));
      if (setup.shared) {
        const manyEnv = { ...base, ...setup.scope(`many${round}`, dir) };
        await publish(name, manyEnv);
        many = Math.max(many, await drain(manyEnv, MANY));
      }
    }
    rows.push([
      name,
      `${Math.round(one)}`,
      setup.shared ? `${Math.round(many)}` : "n/a",
      setup.shared ? `${(many / one).toFixed(2)}×` : "",
    ]);
    console.error(`p10: ${rows.at(-1)!.join("  ")}`);
  } catch (error) {
    rows.push([name, "error", (error as Error).message.slice(0, 60), ""]);
  } finally {
    await service?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

console.log(
  `Every engine: ${COUNT} no-op params, -j ${JOBS} per minion, best of ${ROUNDS} rounds`,
);
const header = [
  "engine",
  "1 minion /s",
  `${MANY} minions /s`,
  `${MANY} ÷ 1`,
];
const widths = header.map((h, i) =>
  Math.max(h.length, ...rows.map((row) => row[i]!.length))
);
for (const row of [header, ...rows]) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
}
