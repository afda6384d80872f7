import { assertEquals } from "../_assert.ts";
import { readSettings } from "../../runner/config.ts";
import type { Env } from "../../core/contracts.ts";
import {
  neededPermissions,
  permissionFlags,
} from "../../commands/_permissions.ts";

async function flags(
  env: Env,
  command: string[] = [],
): Promise<string[]> {
  const full = { PATH: "/usr/bin:/bin", HOME: "/home/u", ...env };
  return permissionFlags(
    await neededPermissions({
      settings: readSettings(full),
      env: full,
      command,
      cwd: "/work",
    }),
  );
}

Deno.test("every minion reads its settings files and its host name", async () => {
  assertEquals(await flags({ MINION_ENGINE: "file" }), [
    "--allow-env",
    "--allow-sys=hostname",
    "--allow-read=/work/.env,/work/.minionize.yml",
  ]);
});

Deno.test("the program is read where PATH has it and run by its name", async () => {
  const found = (await flags({ MINION_ENGINE: "file" }, ["sh", "-c", "x"]))
    .find((f) => f.startsWith("--allow-read="))!;
  assertEquals(/[=,]\/(usr\/)?bin\/sh(,|$)/.test(found), true, found);
  assertEquals(
    (await flags({ MINION_ENGINE: "file", MINION_SHELL: "1" }, ["a b"]))
      .at(-1),
    "--allow-run=sh",
  );
  assertEquals(
    (await flags({ MINION_ENGINE: "file", DRY: "1" }, ["sh"])).at(-1),
    "--allow-read=/work/.env,/work/.minionize.yml",
    "a dry run runs nothing",
  );
});

Deno.test("each engine's server or files, with the engine's defaults", async () => {
  const net = async (env: Env) =>
    (await flags(env)).find((f) => f.startsWith("--allow-net="));
  assertEquals(
    await net({ MINION_ENGINE: "redis" }),
    "--allow-net=127.0.0.1:6379",
  );
  assertEquals(
    await net({
      MINION_ENGINE: "redis",
      REDIS_URL: "redis://:pw@cache:7000/2",
    }),
    "--allow-net=cache:7000",
  );
  assertEquals(
    await net({ MINION_ENGINE: "postgres" }),
    "--allow-net=localhost:5432",
  );
  assertEquals(
    await net({ MINION_ENGINE: "nats", NATS_URL: "nats://a:1,nats://b:2" }),
    "--allow-net=a:1,b:2",
  );
  assertEquals(
    await net({ MINION_ENGINE: "rabbitmq", AMQP_URL: "amqps://mq" }),
    "--allow-net=mq:5671",
  );
  assertEquals(
    await net({ MINION_ENGINE: "kafka", KAFKA_BROKERS: "k1:9092,k2:9092" }),
    "--allow-net=k1:9092,k2:9092",
  );
  assertEquals(
    await net({ MINION_ENGINE: "pulsar" }),
    "--allow-net=localhost:6650",
  );
  assertEquals(
    await net({
      MINION_ENGINE: "google",
      PUBSUB_EMULATOR_HOST: "127.0.0.1:8085",
    }),
    "--allow-net=127.0.0.1:8085",
  );
  assertEquals(
    (await flags({ MINION_ENGINE: "execo", EXECO_PERSISTENCE_DIR: "s" }))
      .filter((f) => /^--allow-(read|write)/.test(f)),
    ["--allow-read", "--allow-write"],
    "its lock mark is a symbolic link",
  );
  assertEquals(
    (await flags({
      MINION_ENGINE: "execo",
      EXECO_PERSISTENCE_DIR: "s",
      EXECO_SHARED: "no",
    })).filter((f) => /^--allow-(read|write)/.test(f)),
    [
      "--allow-read=/work/.env,/work/.minionize.yml,/work/s",
      "--allow-write=/work/s",
    ],
  );
  assertEquals(
    (await flags({ MINION_ENGINE: "kafka", DENO_DIR: "/cache/deno" }))
      .find((f) => f.startsWith("--allow-read=")),
    "--allow-read=/cache/deno/npm/registry.npmjs.org/@platformatic/wasm-utils,/work/.env,/work/.minionize.yml",
    "from sources, Kafka's client reads its WebAssembly",
  );
});

Deno.test({
  name: "a minion that runs programs may run sh, its watchdog",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const run = async (env: Env, command: string[]) =>
      (await flags(env, command)).find((f) => f.startsWith("--allow-run="));
    assertEquals(
      await run({ MINION_ENGINE: "file" }, ["/bin/true"]),
      "--allow-run=sh,/bin/true",
    );
    assertEquals(
      await run({ MINION_ENGINE: "file", DRY: "1" }, ["/bin/true"]),
      undefined,
    );
  },
});

Deno.test("reports, results, stats and Slurm's end time", async () => {
  assertEquals(
    await flags({
      MINION_ENGINE: "file",
      MINION_REPORTER: "json",
      MINION_RESULTS: "out",
      MINION_STATS: ":9100",
      SLURM_JOB_ID: "12",
    }),
    [
      "--allow-env",
      "--allow-sys=hostname",
      "--allow-read=/work/.env,/work/.minionize.yml,/work/out",
      "--allow-write=/work/minion-report,/work/out",
      "--allow-net=0.0.0.0:9100",
      "--allow-run=squeue",
    ],
  );
});
