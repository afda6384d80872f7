/**
 * Redis, PostgreSQL and NATS: drains 10,000 no-op params through one minion
 * (`-j 8`, a function callback that does nothing, so only the engine and the
 * loop are measured) and, side by side in the same run against the same
 * server, through a plain loop written with the same client library that
 * only receives and acknowledges, 8 at a time. Two alternating rounds of
 * each, the best of each kept. Prints each engine's throughput as a ratio
 * of the plain loop's (target ≥ 0.8×).
 *
 * Run: `deno run -A bench/brokers_redis_postgres_nats.ts [COUNT]` (`ONLY=nats,redis` to
 * measure some engines only; servers are started on
 * loopback by the test harness; install them with
 * `bash tests/services/install.sh redis postgres nats`).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { createClient } from "redis";
import type { JsonValue } from "../core/contracts.ts";
import { runMinion } from "../core/minion.ts";
import { ENGINES } from "../runner/registry.ts";
import { startNats } from "../tests/services/nats.ts";
import { startPostgres } from "../tests/services/postgres.ts";
import { startRedis } from "../tests/services/redis.ts";
import type { RunningService } from "../tests/services/harness.ts";

const COUNT = Number(Deno.args[0] ?? 10_000);
const JOBS = 8;
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 2);

async function publish(engine: string, env: Record<string, string>) {
  const plugin = await ENGINES[engine]!();
  async function* params(): AsyncIterable<JsonValue> {
    for (let i = 0; i < COUNT; i++) yield `p${i}`;
  }
  await plugin.publish!(params(), { env, create: true });
}

async function viaMinion(engine: string, env: Record<string, string>) {
  const plugin = await ENGINES[engine]!();
  const opened = await plugin.open({ env, concurrency: JOBS, dryRun: false });
  const start = performance.now();
  const summary = await runMinion({
    engine: opened,
    callback: { process: () => {} },
    concurrency: JOBS,
    maxParams: COUNT,
  });
  const ms = performance.now() - start;
  await opened.close();
  if (summary.done !== COUNT) {
    throw new Error(`${engine}: minion did ${summary.done} of ${COUNT}`);
  }
  return ms;
}

/** Plain loops: receive up to 8, ack each, with the engine's own client. */
const PLAIN: Record<string, (env: Record<string, string>) => Promise<number>> =
  {
    async redis(env) {
      const client = createClient({ url: env.REDIS_URL!, RESP: 2 });
      await client.connect();
      const stream = env.REDIS_STREAM!;
      const start = performance.now();
      let done = 0;
      while (done < COUNT) {
        const reply = await client.sendCommand<
          [string, [string, string[]][]][] | null
        >([
          "XREADGROUP",
          "GROUP",
          "minionize",
          "plain",
          "COUNT",
          String(JOBS),
          "BLOCK",
          "1000",
          "STREAMS",
          stream,
          ">",
        ]);
        const entries = reply?.[0]?.[1] ?? [];
        await Promise.all(
          entries.map(([id]) =>
            client.multi().xAck(stream, "minionize", id).xDel(stream, id)
              .exec()
          ),
        );
        done += entries.length;
      }
      const ms = performance.now() - start;
      client.destroy();
      return ms;
    },
    async postgres(env) {
      const sql = postgres(env.DATABASE_URL!, {
        max: JOBS + 1,
        onnotice: () => {},
      });
      const table = sql(env.POSTGRES_TABLE!);
      const start = performance.now();
      let done = 0;
      while (done < COUNT) {
        const rows = await sql<{ id: string }[]>`
          update ${table} set state = 'running', attempts = attempts + 1,
            lease_until = now() + interval '60 seconds'
          where id in (select id from ${table} where state = 'todo'
            order by id limit ${JOBS} for update skip locked)
          returning id::text`;
        await Promise.all(
          rows.map((row) =>
            sql`update ${table} set state = 'done' where id = ${row.id}`
          ),
        );
        done += rows.length;
      }
      const ms = performance.now() - start;
      await sql.end();
      return ms;
    },
    async nats(env) {
      const nc = await connect({ servers: env.NATS_URL! });
      const js = jetstream(nc);
      const consumer = await js.consumers.get(env.NATS_STREAM!, "minionize");
      const start = performance.now();
      let done = 0;
      const messages = await consumer.consume({ max_messages: JOBS });
      for await (const msg of messages) {
        msg.ack();
        if (++done >= COUNT) break;
      }
      const ms = performance.now() - start;
      await nc.drain();
      return ms;
    },
  };

const SERVERS: Record<string, () => Promise<RunningService>> = {
  redis: startRedis,
  postgres: startPostgres,
  nats: startNats,
};

const SCOPE: Record<string, (tag: string) => Record<string, string>> = {
  redis: (tag) => ({ REDIS_STREAM: tag }),
  postgres: (tag) => ({ POSTGRES_TABLE: tag }),
  nats: (tag) => ({ NATS_STREAM: tag }),
};

const rows: string[][] = [];
for (
  const engine of (Deno.env.get("ONLY")?.split(",") ?? Object.keys(SERVERS))
) {
  const service = await SERVERS[engine]!();
  try {
    const base = { ...service.env, MINION_LEASE: "60" };
    // Alternating rounds, best of each: a load spike on a shared machine
    // then spoils one round, not the ratio.
    let plainMs = Infinity;
    let minionMs = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      const plainEnv = { ...base, ...SCOPE[engine]!(`bench_plain_${round}`) };
      await publish(engine, plainEnv);
      plainMs = Math.min(plainMs, await PLAIN[engine]!(plainEnv));
      const minionEnv = {
        ...base,
        ...SCOPE[engine]!(`bench_minion_${round}`),
      };
      await publish(engine, minionEnv);
      minionMs = Math.min(minionMs, await viaMinion(engine, minionEnv));
    }
    rows.push([
      engine,
      `${Math.round(COUNT / plainMs * 1000)}`,
      `${Math.round(COUNT / minionMs * 1000)}`,
      `${(plainMs / minionMs).toFixed(2)}×`,
    ]);
  } finally {
    await service.stop();
  }
}

console.log(
  `Redis, PostgreSQL, NATS: ${COUNT} no-op params, -j ${JOBS}, best of ${ROUNDS} alternating rounds`,
);
const header = ["engine", "plain loop /s", "minion /s", "ratio (≥ 0.8×)"];
const widths = header.map((h, i) =>
  Math.max(h.length, ...rows.map((row) => row[i]!.length))
);
for (const row of [header, ...rows]) {
  console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  "));
}
