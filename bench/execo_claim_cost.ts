/**
 * The execo engine's cost per claim+ack at 10,000 and 1,000,000 params
 * (target: at most 1.5x apart), and the throughput of 4 minion processes
 * with a no-op callback beside 4 Python processes doing execo
 * `ParamSweeper.get_next()`/`done()` on a sweep of the same size (target:
 * at least 20x). Needs the venv of `tests/services/install/execo.sh`.
 *
 * Run: `deno run -A bench/execo_claim_cost.ts` (`--quick` for smaller counts).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { runMinion } from "../core/minion.ts";
import { sweepQueue } from "../engines/execo/queue.ts";
import { createSweep, openSweep } from "../engines/execo/sweep.ts";
import { runWorkers } from "./_workers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const PYTHON = `${ROOT}.cache/venv/bin/python`;
const quick = Deno.args.includes("--quick");

/**
 * Microseconds per claim+ack on sweeps of each size, measured in alternating
 * rounds in one process (so that load from elsewhere hits both alike); the
 * best round of each size is kept.
 */
async function costPerOp(
  sizes: number[],
  rounds: number,
  ops: number,
): Promise<number[]> {
  const leaseMs = 60_000;
  const never = new AbortController().signal;
  const dirs: string[] = [];
  const queues = [];
  try {
    for (const size of sizes) {
      const dir = await Deno.makeTempDir({ prefix: "p3-cost-" });
      dirs.push(dir);
      (await createSweep(dir, Array.from({ length: size }, (_, i) => i))).store
        .close();
      const queue = sweepQueue(await openSweep(dir, { leaseMs }), {
        leaseMs,
        warn: () => {},
      });
      queues.push(queue);
      for (let i = 0; i < 200; i++) await (await queue.next(never))!.ack();
    }
    const best = sizes.map(() => Infinity);
    for (let round = 0; round < rounds; round++) {
      for (const [index, queue] of queues.entries()) {
        const started = performance.now();
        for (let i = 0; i < ops; i++) await (await queue.next(never))!.ack();
        const cost = (performance.now() - started) * 1000 / ops;
        best[index] = Math.min(best[index]!, cost);
      }
    }
    return best;
  } finally {
    for (const queue of queues) await queue.close();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Worker process: opens the engine, waits for `go` on stdin, runs a minion
 * with a no-op callback for `seconds`, prints how many params it acked.
 */
async function worker(dir: string, seconds: number): Promise<void> {
  const leaseMs = 60_000;
  const engine = sweepQueue(await openSweep(dir, { leaseMs }), {
    leaseMs,
    warn: () => {},
  });
  console.log("ready");
  await Deno.stdin.readable.getReader().read();
  const stop = AbortSignal.timeout(seconds * 1000);
  const summary = await runMinion({
    engine,
    callback: { process: () => {} },
    signal: stop,
  });
  await engine.close();
  console.log(JSON.stringify({ done: summary.done }));
}

const PYTHON_WORKER = `
import sys, time
from execo_engine.sweep import ParamSweeper
s = ParamSweeper(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
deadline = time.time() + float(sys.argv[2])
n = 0
while time.time() < deadline:
    p = s.get_next()
    if p is None:
        break
    s.done(p)
    n += 1
print('{"done": %d}' % n, flush=True)
`;

/** Params per second of `count` worker processes started by `command`. */
async function throughput(
  command: string,
  args: (index: number) => string[],
  count: number,
): Promise<number> {
  const { results, seconds } = await runWorkers<{ done: number }>(
    command,
    args,
    count,
  );
  return results.reduce((sum, r) => sum + r.done, 0) / seconds;
}

async function python(code: string, cwd: string): Promise<void> {
  const { code: status, stderr } = await new Deno.Command(PYTHON, {
    args: ["-c", code],
    cwd,
  }).output();
  if (status !== 0) throw new Error(new TextDecoder().decode(stderr));
}

async function main(): Promise<void> {
  // Rounds and warm-up fit in the small sweep.
  const [small, large] = await costPerOp(
    [10_000, quick ? 200_000 : 1_000_000],
    quick ? 4 : 8,
    1000,
  ) as [number, number];
  const seconds = quick ? 2 : 4;
  const size = 200_000;
  const root = await Deno.makeTempDir({ prefix: "p3-throughput-" });
  let ours: number;
  let theirs: number;
  try {
    (await createSweep(
      `${root}/ours`,
      Array.from({ length: size }, (_, i) => i),
    )).store.close();
    ours = await throughput(
      Deno.execPath(),
      () => [
        "run",
        "-A",
        import.meta.filename!,
        "--worker",
        `${root}/ours`,
        `${seconds}`,
      ],
      4,
    );
    await python(
      `from execo_engine.sweep import ParamSweeper; ParamSweeper('theirs', sweeps=range(${size}), save_sweeps=True)`,
      root,
    );
    theirs = await throughput(
      PYTHON,
      () => ["-c", PYTHON_WORKER, `${root}/theirs`, `${seconds}`],
      4,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  const row = (a: string, b: string, c: string, d: string) =>
    console.log(
      `${a.padEnd(44)}${b.padStart(14)}${c.padStart(14)}${d.padStart(10)}`,
    );
  console.log("execo engine: cost per claim+ack");
  row("measure", "minionize", "reference", "ratio");
  row(
    `claim+ack, us/op: ${quick ? "200,000" : "1,000,000"} vs 10,000 params`,
    large.toFixed(1),
    small.toFixed(1),
    `${(large / small).toFixed(2)}x`,
  );
  row(
    `4 processes, no-op, params/s (vs Python execo)`,
    ours.toFixed(0),
    theirs.toFixed(0),
    `${(ours / theirs).toFixed(1)}x`,
  );
  console.log(
    `targets: cost ratio <= 1.5x ${
      large / small <= 1.5 ? "met" : "NOT met"
    }; throughput >= 20x ${ours / theirs >= 20 ? "met" : "NOT met"}`,
  );
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--worker");
  if (at >= 0) await worker(Deno.args[at + 1]!, Number(Deno.args[at + 2]));
  else await main();
}
