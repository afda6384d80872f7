/**
 * Pulsar: drains 10,000 no-op params through one minion (a function
 * callback that does nothing, so only the engine, its TypeScript client and
 * the loop are measured), at `-j 1` and `-j 8`, and side by side in the same
 * run against the same broker, through the official Python client
 * (`pulsar-client`, C++ underneath) receiving and acknowledging one message
 * at a time with its default 1,000-message prefetch. Each drain reads its
 * own topic, filled beforehand by `minionize publish`'s producer (not
 * timed). Prints messages per second and the ratio to the Python client.
 *
 * Run: `deno run -A bench/pulsar_vs_python.ts [COUNT]` (install the broker and the
 * Python client with `bash tests/services/install.sh pulsar`).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import type { JsonValue } from "../core/contracts.ts";
import { runMinion } from "../core/minion.ts";
import { pulsarEngine } from "../engines/pulsar/mod.ts";
import { ROOT } from "../tests/services/harness.ts";
import {
  PULSAR_PYTHON,
  type RunningPulsar,
  startPulsar,
} from "../tests/services/pulsar.ts";

const COUNT = Number(Deno.args[0] ?? 10_000);

async function fill(broker: RunningPulsar, topic: string) {
  async function* params(): AsyncIterable<JsonValue> {
    for (let i = 0; i < COUNT; i++) yield `p${i}`;
  }
  const env = { ...broker.env, PULSAR_TOPIC: topic };
  await pulsarEngine.publish!(params(), { env, create: true });
}

async function viaMinion(broker: RunningPulsar, topic: string, jobs: number) {
  const env = { ...broker.env, PULSAR_TOPIC: topic };
  const start = performance.now();
  const engine = await pulsarEngine.open({
    env,
    concurrency: jobs,
    dryRun: false,
  });
  const summary = await runMinion({
    engine,
    callback: { process: () => {} },
    concurrency: jobs,
    maxParams: COUNT,
  });
  await engine.close();
  const ms = performance.now() - start;
  if (summary.done !== COUNT) {
    throw new Error(`minion did ${summary.done} of ${COUNT}`);
  }
  return ms;
}

async function viaPython(broker: RunningPulsar, topic: string) {
  const out = await new Deno.Command(PULSAR_PYTHON, {
    args: [
      `${ROOT}tests/testdata/pulsar_peer.py`,
      "drain",
      broker.serviceUrl,
      topic,
      "minionize",
      String(COUNT),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (out.code !== 0) throw new Error(`python drain exited ${out.code}`);
  // The peer times subscribe to last ack itself, as viaMinion does.
  return Number(new TextDecoder().decode(out.stdout).trim()) * 1000;
}

const broker = await startPulsar();
try {
  const rows: [string, number][] = [];
  const runs: [string, (topic: string) => Promise<number>][] = [
    ["python pulsar-client, receive+ack", (t) => viaPython(broker, t)],
    ["minion -j 1 (no-op function)", (t) => viaMinion(broker, t, 1)],
    ["minion -j 8 (no-op function)", (t) => viaMinion(broker, t, 8)],
  ];
  for (const [name, run] of runs) {
    const topic = `bench-${Date.now().toString(36)}-${rows.length}`;
    await fill(broker, topic);
    rows.push([name, await run(topic)]);
  }
  const base = COUNT / (rows[0]![1] / 1000);
  console.log(`Pulsar: drain ${COUNT} no-op messages, one consumer`);
  console.log(
    `${"".padEnd(36)} ${"seconds".padStart(8)} ${"msg/s".padStart(8)} ${
      "vs python".padStart(9)
    }`,
  );
  for (const [name, ms] of rows) {
    const rate = COUNT / (ms / 1000);
    console.log(
      `${name.padEnd(36)} ${(ms / 1000).toFixed(2).padStart(8)} ${
        rate.toFixed(0).padStart(8)
      } ${(rate / base).toFixed(2).padStart(8)}×`,
    );
  }
} finally {
  await broker.stop();
}
