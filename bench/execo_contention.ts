/**
 * Many minions on one sweep: 2, 8 and 32 minion processes (`-j 2`, a no-op
 * task) draining one sweep together for a few seconds, on a local disk and,
 * side by side, spread over two client mounts of a GlusterFS volume with
 * its caches off (the `coherent` profile of the test services). For each:
 * the params claimed and acknowledged per second by all, the 99th
 * percentile of the time a visit waited for the lock, and the fewest params
 * any one minion got beside the mean (no minion starves). Goal: 32 minions
 * drain no slower than 2.
 *
 * Needs root and the GlusterFS packages for the shared rows
 * (`bash tests/services/install.sh glusterfs`); without them only the local
 * rows are measured.
 *
 * Run: `deno run -A bench/execo_contention.ts` (`--quick` for shorter runs).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { runMinion } from "../core/minion.ts";
import { sweepQueue } from "../engines/execo/queue.ts";
import { createSweep, openSweep } from "../engines/execo/sweep.ts";
import { runWorkers } from "./_workers.ts";

const quick = Deno.args.includes("--quick");
const SECONDS = quick ? 3 : 6;
const COUNTS = [2, 8, 32];

/** Worker: a minion on `dir`; waits for `go`, drains for `seconds`. */
async function worker(dir: string, seconds: number): Promise<void> {
  const leaseMs = 60_000;
  const waits: number[] = [];
  const store = await openSweep(dir, {
    leaseMs,
    onLockWait: (ms) => waits.push(ms),
  });
  const engine = sweepQueue(store, { leaseMs, warn: () => {}, concurrency: 2 });
  console.log("ready");
  await Deno.stdin.readable.getReader().read();
  waits.length = 0;
  const summary = await runMinion({
    engine,
    callback: { process: () => {} },
    concurrency: 2,
    signal: AbortSignal.timeout(seconds * 1000),
  });
  await engine.close();
  console.log(JSON.stringify({ done: summary.done, waits }));
}

interface Result {
  rate: number;
  p99: number;
  fewest: number;
  mean: number;
}

/** Runs `count` workers, the i-th on `dirs[i % dirs.length]`. */
async function measure(dirs: string[], count: number): Promise<Result> {
  const { results, seconds } = await runWorkers<
    { done: number; waits: number[] }
  >(
    Deno.execPath(),
    (i) => [
      "run",
      "-A",
      import.meta.filename!,
      "--worker",
      dirs[i % dirs.length]!,
      String(SECONDS),
    ],
    count,
  );
  const dones = results.map((r) => r.done);
  const waits = results.flatMap((r) => r.waits).sort((a, b) => a - b);
  const total = dones.reduce((a, b) => a + b, 0);
  return {
    rate: total / seconds,
    p99: waits[Math.floor(waits.length * 0.99)] ?? 0,
    fewest: Math.min(...dones),
    mean: total / count,
  };
}

async function freshSweep(root: string, size: number): Promise<string> {
  const dir = `${root}/sweep-${crypto.randomUUID().slice(0, 8)}`;
  (await createSweep(dir, Array.from({ length: size }, (_, i) => i))).store
    .close();
  return dir;
}

async function main(): Promise<void> {
  const size = quick ? 100_000 : 300_000;
  const rows: [string, number, Result][] = [];
  const local = await Deno.makeTempDir({ prefix: "bench-contention-" });
  // GlusterFS, when this machine can run it.
  let shared: { mounts: string[]; stop(): Promise<void> } | undefined;
  try {
    const services = await import("../tests/services/shared_fs.ts");
    if (services.sharedFsAvailable("coherent")) {
      shared = await services.startSharedFs("coherent", { mounts: 2 });
    }
  } catch (error) {
    console.log(`(no GlusterFS rows: ${(error as Error).message})`);
  }
  try {
    for (const count of COUNTS) {
      const dir = await freshSweep(local, size);
      rows.push(["local disk", count, await measure([dir], count)]);
      if (shared) {
        const name = (await freshSweep(shared.mounts[0]!, size / 10))
          .split("/").at(-1)!;
        const dirs = shared.mounts.map((mount) => `${mount}/${name}`);
        rows.push(["GlusterFS, 2 mounts", count, await measure(dirs, count)]);
      }
    }
  } finally {
    await shared?.stop();
    await Deno.remove(local, { recursive: true });
  }
  console.log("execo contention: many minions, -j 2, no-op task, one sweep");
  const row = (...cells: string[]) =>
    console.log(
      cells[0]!.padEnd(22) +
        cells.slice(1).map((c) => c.padStart(12)).join(""),
    );
  row(
    "filesystem",
    "minions",
    "params/s",
    "vs 2",
    "p99 wait ms",
    "fewest",
    "mean",
  );
  for (const [where, count, r] of rows) {
    const base = rows.find(([w, c]) => w === where && c === COUNTS[0])![2];
    row(
      where,
      String(count),
      r.rate.toFixed(0),
      `${(r.rate / base.rate).toFixed(2)}x`,
      r.p99.toFixed(1),
      String(r.fewest),
      r.mean.toFixed(0),
    );
  }
  const collapsed = COUNTS.slice(1).some((count) =>
    rows.some(([where, c, r]) =>
      c === count &&
      r.rate < rows.find(([w, c2]) => w === where && c2 === COUNTS[0])![2].rate
    )
  );
  console.log(
    `goal: 32 minions drain no slower than 2 ${collapsed ? "NOT met" : "met"}`,
  );
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--worker");
  if (at >= 0) await worker(Deno.args[at + 1]!, Number(Deno.args[at + 2]));
  else await main();
}
