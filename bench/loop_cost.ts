/**
 * What the minion loop itself costs per param: 200,000 no-op params from an
 * in-memory engine, with no reporter (what the `null` reporter gives the
 * loop), run by `runMinion` at `-j 1` and `-j 8`, next to a bare loop that
 * only takes, runs and acks each param from the same engine. The loop's cost
 * is the difference, per param (target: at most 1 µs). A second row gives
 * the loop an `onFailure` sink, as the CLI does for its failure lines: the
 * phases of every run are then timed, in case it fails.
 *
 * `--against DIR` also runs the loop of another checkout (its
 * `core/minion.ts`) in the same rounds, e.g. the main branch's, to compare
 * before and after side by side. Each measurement runs in a fresh process
 * (after a warm-up of a tenth of the params): loops sharing one process
 * share the JIT's guesses, and one contender's shapes slow another's code.
 *
 * Run: `deno task bench loop_cost`, or
 * `deno run -A bench/loop_cost.ts [--params N] [--against DIR]`.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import type {
  Callback,
  Delivery,
  Engine,
  JsonValue,
} from "../core/contracts.ts";
import { runMinion } from "../core/minion.ts";
import { median, printTable } from "./_measure.ts";

type RunMinion = typeof runMinion;

const argv = [...Deno.args];
const flag = (name: string) => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv[at + 1];
};
const PARAMS = Number(flag("--params") ?? 200_000);
const ROUNDS = 7;
const against = flag("--against");

/** An engine that hands out `count` numbers and settles them in memory. */
function memoryEngine(count: number): Engine & { acked: number } {
  let given = 0;
  const settle = () => Promise.resolve();
  const engine = {
    name: "memory",
    redelivers: false,
    acked: 0,
    next(): Promise<Delivery | undefined> {
      if (given >= count) return Promise.resolve(undefined);
      const param: JsonValue = given++;
      return Promise.resolve({
        param,
        attempt: 1,
        id: "",
        ack: () => {
          engine.acked++;
          return settle();
        },
        nack: settle,
        release: settle,
        fail: settle,
      });
    },
    close: settle,
  };
  return engine;
}

const callback: Callback = { process() {} };

/** The least a loop can do: take, run, ack, `jobs` at a time. */
async function bare(count: number, jobs: number): Promise<number> {
  const engine = memoryEngine(count);
  const signal = new AbortController().signal;
  const started = performance.now();
  const worker = async () => {
    while (true) {
      const delivery = await engine.next(signal);
      if (!delivery) return;
      await callback.process(delivery.param, {
        minionId: "",
        attempt: 1,
        seq: 0,
        slot: 1,
        signal,
      });
      await delivery.ack();
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  const elapsed = performance.now() - started;
  if (engine.acked !== count) throw new Error("bare loop lost params");
  return elapsed;
}

async function minion(
  run: RunMinion,
  count: number,
  jobs: number,
  extra: Partial<Parameters<RunMinion>[0]>,
): Promise<number> {
  const engine = memoryEngine(count);
  const started = performance.now();
  const summary = await run({
    engine,
    callback,
    concurrency: jobs,
    minionId: "bench",
    warn: () => {},
    print: () => {},
    ...extra,
  });
  const elapsed = performance.now() - started;
  if (summary.done !== count || engine.acked !== count) {
    throw new Error("the minion lost params");
  }
  return elapsed;
}

// The CLI's default: no reporter, but a sink for failure lines, so the
// phases of every run are timed in case it fails.
const cli = { onFailure: () => {} };

/** A contender: which checkout's loop, and with what options. */
interface Contender {
  name: string;
  /** The checkout whose `core/minion.ts` runs; this one when undefined. */
  root?: string | undefined;
  /** Give the loop an `onFailure` sink. */
  onFailure: boolean;
}

const child = flag("--child");
if (child !== undefined) {
  // One contender in a process of its own: what one loop learned in the
  // JIT does not slow (or speed) another, as in a real minion.
  const jobs = Number(flag("--jobs"));
  const root = flag("--root");
  let result: number;
  if (child === "bare") {
    await bare(PARAMS / 10, jobs);
    result = await bare(PARAMS, jobs);
  } else {
    const run = root === undefined
      ? runMinion
      : (await import(`file://${root}/core/minion.ts`)).runMinion as RunMinion;
    const extra = child === "cli" ? cli : {};
    await minion(run, PARAMS / 10, jobs, extra);
    result = await minion(run, PARAMS, jobs, extra);
  }
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

const contenders: Contender[] = [
  { name: "runMinion", onFailure: false },
  { name: "runMinion + onFailure", onFailure: true },
];
if (against !== undefined) {
  const root = new URL(against, `file://${Deno.cwd()}/`).pathname.replace(
    /\/$/,
    "",
  );
  contenders.push(
    { name: `runMinion of ${against}`, root, onFailure: false },
    { name: `runMinion + onFailure of ${against}`, root, onFailure: true },
  );
}

/** Runs one measurement in a fresh process and returns its ms. */
async function measure(
  what: string,
  jobs: number,
  root?: string,
): Promise<number> {
  const args = [
    "run",
    "-A",
    import.meta.filename!,
    "--child",
    what,
    "--jobs",
    String(jobs),
    "--params",
    String(PARAMS),
    ...(root === undefined ? [] : ["--root", root]),
  ];
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`${what} failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout)) as number;
}

const rows: (string | number)[][] = [[
  "loop",
  "-j",
  "µs/param",
  "bare µs/param",
  "loop cost µs/param",
  "× bare",
]];
let worst = 0;
for (const jobs of [1, 8]) {
  const bareTimes: number[] = [];
  const times = contenders.map(() => [] as number[]);
  // Rounds alternate the contenders, so that a busy moment of the machine
  // falls on all of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    bareTimes.push(await measure("bare", jobs));
    for (const [i, contender] of contenders.entries()) {
      times[i]!.push(
        await measure(
          contender.onFailure ? "cli" : "loop",
          jobs,
          contender.root,
        ),
      );
    }
  }
  const perBare = median(bareTimes) * 1000 / PARAMS;
  for (const [i, { name }] of contenders.entries()) {
    const per = median(times[i]!) * 1000 / PARAMS;
    if (i === 0) worst = Math.max(worst, per - perBare);
    rows.push([
      name,
      jobs,
      per.toFixed(2),
      perBare.toFixed(2),
      (per - perBare).toFixed(2),
      (per / perBare).toFixed(1),
    ]);
  }
}
console.log(
  `Loop cost: ${PARAMS} no-op params, in-memory engine, no reporter, median of ${ROUNDS} rounds, each in a fresh process`,
);
printTable(rows);
console.log(
  `runMinion's loop cost: at most ${worst.toFixed(2)} µs/param (target ≤ 1): ${
    worst <= 1 ? "met" : "NOT met"
  }`,
);
