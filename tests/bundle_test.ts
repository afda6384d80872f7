/**
 * The single-file bundle (`deno task bundle`) runs a job on every engine
 * from an empty directory. Google, Pulsar and Kafka are run in their own
 * test files, next to the servers those already start.
 */

import { assert, assertEquals } from "./_assert.ts";
import { buildBundle, type BundleDir, bundleDir } from "./_bundle.ts";
import { ROOT } from "./_cli.ts";
import type { RunningService } from "./services/harness.ts";
import { natsAvailable, startNats } from "./services/nats.ts";
import { postgresAvailable, startPostgres } from "./services/postgres.ts";
import { rabbitmqAvailable, startRabbitmq } from "./services/rabbitmq.ts";
import { redisAvailable, startRedis } from "./services/redis.ts";

/** Output lines of `text`, sorted: minions with -j may print in any order. */
function lines(text: string): string[] {
  return text.split("\n").filter((line) => line).sort();
}

/** Publishes `params` with the bundle, then drains them with it. */
async function publishAndDrain(
  bundled: BundleDir,
  engine: string,
  env: Record<string, string>,
): Promise<void> {
  const published = await bundled.run([
    "publish",
    "--engine",
    engine,
    "--create",
  ], {
    env,
    stdin: "p1\np2\np3\n",
  });
  assertEquals(
    [published.code, published.stderr],
    [0, `minionize: published 3 params (engine ${engine})\n`],
  );
  const ran = await bundled.run(
    ["--engine", engine, "-j", "2", "--idle-exit", "2", "echo", "ran"],
    { env },
  );
  assertEquals(
    [ran.code, lines(ran.stdout), ran.stderr],
    [0, ["ran p1", "ran p2", "ran p3"], ""],
  );
}

Deno.test({
  name:
    "the bundled single file runs a job on every engine from an empty directory",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const bundled = await bundleDir();
    try {
      await t.step("file", async () => {
        await Deno.writeTextFile(`${bundled.dir}/params`, "1\n2\n");
        assertEquals(
          await bundled.run(["echo", "hello"], {
            env: { MINION_ENGINE: "file", FILE_PATH: "params" },
          }),
          { code: 0, stdout: "hello 1\nhello 2\n", stderr: "" },
        );
        await Deno.remove(`${bundled.dir}/params`);
      });

      await t.step("execo, the seed's example", async () => {
        const env = { EXECO_PERSISTENCE_DIR: `${bundled.dir}/sweeps` };
        const created = await bundled.run(["sweep", "create"], {
          env,
          stdin: "0\n1\n2\n",
        });
        assertEquals([created.code, created.stderr], [0, ""]);
        const ran = await bundled.run(["echo", "hello"], {
          env: { ...env, MINION_ENGINE: "execo" },
        });
        assertEquals(
          [ran.code, lines(ran.stdout), ran.stderr],
          [0, ["hello 0", "hello 1", "hello 2"], ""],
        );
        await Deno.remove(env.EXECO_PERSISTENCE_DIR, { recursive: true });
      });

      const brokers: [
        string,
        () => boolean,
        () => Promise<RunningService>,
        Record<string, string>,
      ][] = [
        ["redis", redisAvailable, startRedis, { REDIS_STREAM: "bundled" }],
        [
          "postgres",
          postgresAvailable,
          startPostgres,
          { POSTGRES_TABLE: "bundled" },
        ],
        ["nats", natsAvailable, startNats, { NATS_STREAM: "bundled" }],
        ["rabbitmq", rabbitmqAvailable, startRabbitmq, {
          AMQP_QUEUE: "bundled",
        }],
      ];
      for (const [engine, available, start, names] of brokers) {
        await t.step({
          name: engine,
          ignore: !available(),
          fn: async () => {
            const server = await start();
            try {
              await publishAndDrain(bundled, engine, {
                ...server.env,
                ...names,
              });
            } finally {
              await server.stop();
            }
          },
        });
      }

      await t.step("nothing was installed next to it", () => {
        assertEquals(
          [...Deno.readDirSync(bundled.dir)].map((e) => e.name),
          ["minionize.js"],
        );
      });
    } finally {
      await bundled.remove();
    }
  },
});

/** The chunks of a bundle file, unpacked: name → JavaScript. */
async function chunksOf(file: string): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(file);
  const index = JSON.parse(/^const index = (.*);$/m.exec(text)![1]!) as Record<
    string,
    [number, number, number]
  >;
  const payload = text.slice(text.indexOf("function payload() {/*") + 22);
  const chunks = new Map<string, string>();
  for (const [name, [start, length, gzipped]] of Object.entries(index)) {
    const bytes = Uint8Array.fromBase64(payload.slice(start, start + length));
    chunks.set(
      name,
      gzipped
        ? await new Response(
          new Blob([bytes]).stream()
            .pipeThrough(new DecompressionStream("gzip")),
        ).text()
        : new TextDecoder().decode(bytes),
    );
  }
  return chunks;
}

Deno.test("a file-engine minion run from the bundle unpacks a small part of it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chunks = await chunksOf(await buildBundle(`${dir}/minionize.js`));
    // What `minionize echo` imports with MINION_ENGINE=file: the CLI, the run
    // command and the file engine, then whatever those import statically.
    const wanted = [...chunks.keys()].filter((name) =>
      name === "cli.js" || /^(run|file)-/.test(name)
    );
    assertEquals(wanted.length, 3, [...chunks.keys()].join(" "));
    const loaded = new Set<string>();
    const visit = (name: string) => {
      if (loaded.has(name)) return;
      loaded.add(name);
      for (
        const m of chunks.get(name)!.matchAll(/"minionize-chunk:([^"]+)"/g)
      ) {
        visit(m[1]!);
      }
    };
    wanted.forEach(visit);
    const size = (names: Iterable<string>) =>
      [...names].reduce((sum, name) => sum + chunks.get(name)!.length, 0);
    const share = size(loaded) / size(chunks.keys());
    assert(share < 0.1, `it unpacks ${(share * 100).toFixed(0)}% of the code`);
    const clients = [...loaded].filter((name) =>
      /@google-cloud|@redis|@platformatic|amqplib|@nats-io/.test(
        chunks.get(name)!,
      )
    );
    assertEquals(clients, [], "no broker client among them");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno.json's version is the one the CLI prints", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const { VERSION } = await import("../core/version.ts");
  assertEquals(config.version, VERSION);
});
