/**
 * Pulsar: drains 10,000 no-op params through one minion (a function
 * callback that does nothing, so only the engine, its TypeScript client and
 * the loop are measured), at `-j 1`, `-j 8` and `-j 8` with
 * `PULSAR_PREFETCH=1000`, and side by side in the same run against the same
 * broker, through the official Python client (`pulsar-client`, C++
 * underneath) receiving and acknowledging one message at a time with its
 * default 1,000-message prefetch. Each drain reads its own topic, filled
 * beforehand by `minionize publish`'s producer (not timed). The broker is
 * warmed up by one untimed drain, then the drains run in turn for ROUNDS
 * rounds (3), since a broker sharing two cores with other work varies a
 * lot from one drain to the next. Prints the median seconds and messages
 * per second of each, and its ratio to the Python client's median.
 *
 * Run: `deno run -A bench/pulsar_vs_python.ts [COUNT] [ROUNDS]` (install the broker
 * and the Python client with `bash tests/services/install.sh pulsar`).
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
const ROUNDS = Number(Deno.args[1] ?? 3);

async function fill(broker: RunningPulsar, topic: string) {
  async function* params(): AsyncIterable<JsonValue> {
    for (let i = 0; i < COUNT; i++) yield `p${i}`;
  }
  const env = { ...broker.env, PULSAR_TOPIC: topic };
  await pulsarEngine.publish!(params(), { env, create: true });
}

async function viaMinion(
  broker: RunningPulsar,
  topic: string,
  jobs: number,
  settings: Record<string, string> = {},
) {
  const env = { ...broker.env, PULSAR_TOPIC: topic, ...settings };
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
  const runs: [string, (topic: string) => Promise<number>][] = [
    ["python pulsar-client, receive+ack", (t) => viaPython(broker, t)],
    ["minion -j 1 (no-op function)", (t) => viaMinion(broker, t, 1)],
    ["minion -j 8 (no-op function)", (t) => viaMinion(broker, t, 8)],
    [
      "minion -j 8, PULSAR_PREFETCH=1000",
      (t) => viaMinion(broker, t, 8, { PULSAR_PREFETCH: "1000" }),
    ],
  ];
  let topics = 0;
  const newTopic = async () => {
    const topic = `bench-${Date.now().toString(36)}-${topics++}`;
    await fill(broker, topic);
    return topic;
  };
  await viaPython(broker, await newTopic()); // warm-up, not timed
  const times: number[][] = runs.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, run]] of runs.entries()) {
      times[i]!.push(await run(await newTopic()));
    }
  }
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const rows = runs.map(([name], i) => [name, median(times[i]!)] as const);
  const base = COUNT / (rows[0]![1] / 1000);
  console.log(
    `Pulsar: drain ${COUNT} no-op messages, one consumer, median of ${ROUNDS} rounds`,
  );
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
