/**
 * What a minion pays to join a sweep, at 10,000 and at 1,000,000 params:
 * the time from opening the sweep to its first claimed param, and the bytes
 * its process read (`rchar` of /proc/self/io). Each sweep has run for a
 * while first (a share of its params done, a snapshot behind the journal's
 * end), so the joiner reads what a late minion reads. Target: both within
 * 3x of each other. Measured in fresh processes, alternating, best of
 * several rounds.
 *
 * Run: `deno run -A bench/execo_join.ts` (`--quick` for fewer rounds).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { execoEngine } from "../engines/execo/mod.ts";
import { createSweep } from "../engines/execo/sweep.ts";

const quick = Deno.args.includes("--quick");

function bytesRead(): number {
  const io = Deno.readTextFileSync("/proc/self/io");
  return Number(/rchar: (\d+)/.exec(io)![1]);
}

/** Worker: joins the sweep in `dir`, claims one param, prints the costs. */
async function worker(dir: string): Promise<void> {
  const before = bytesRead();
  const started = performance.now();
  const engine = await execoEngine.open({
    env: { EXECO_PERSISTENCE_DIR: dir },
    concurrency: 1,
    dryRun: false,
  });
  const delivery = await engine.next(new AbortController().signal);
  const ms = performance.now() - started;
  const bytes = bytesRead() - before;
  await delivery!.release();
  await engine.close();
  console.log(JSON.stringify({ ms, bytes }));
}

/** A sweep of `size` params that has run a while. */
async function sweepOf(size: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bench-join-" });
  const { store } = await createSweep(
    dir,
    Array.from({ length: size }, (_, i) => ({ run: i, seed: i * 7919 })),
  );
  // A tenth of it done, in batches, by a minion that went on: the journal
  // holds a snapshot and what came after it.
  const done = Math.min(size / 10, 20_000);
  for (let first = 0; first < done; first += 1000) {
    await store.transact((tx) => {
      for (let id = first; id < first + 1000; id++) {
        tx.append("d", id, { o: "bench", w: tx.now });
      }
    });
  }
  await store.compact();
  await store.transact((tx) => {
    for (let id = done; id < done + 500; id++) {
      tx.append("d", id, { o: "bench", w: tx.now });
    }
  });
  store.close();
  return dir;
}

async function join(dir: string): Promise<{ ms: number; bytes: number }> {
  const { stdout, code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--worker", dir],
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function main(): Promise<void> {
  const sizes = [10_000, 1_000_000];
  const dirs = [];
  for (const size of sizes) dirs.push(await sweepOf(size));
  const best = sizes.map(() => ({ ms: Infinity, bytes: Infinity }));
  for (let round = 0; round < (quick ? 3 : 7); round++) {
    for (const [index, dir] of dirs.entries()) {
      const { ms, bytes } = await join(dir);
      best[index]!.ms = Math.min(best[index]!.ms, ms);
      best[index]!.bytes = Math.min(best[index]!.bytes, bytes);
    }
  }
  const snapshot = (dir: string) =>
    [...Deno.readDirSync(dir)]
      .filter((e) => e.name.startsWith("minionize."))
      .reduce((n, e) => n + Deno.statSync(`${dir}/${e.name}`).size, 0);
  const [small, large] = best as [typeof best[0], typeof best[0]];
  console.log("execo join: a late minion's cost to its first param");
  const row = (a: string, b: string, c: string, d: string) =>
    console.log(
      `${a.padEnd(34)}${b.padStart(14)}${c.padStart(14)}${d.padStart(10)}`,
    );
  row("measure", "1,000,000", "10,000", "ratio");
  row(
    "time to first param, ms",
    large.ms.toFixed(1),
    small.ms.toFixed(1),
    `${(large.ms / small.ms).toFixed(2)}x`,
  );
  row(
    "bytes read by the process",
    String(large.bytes),
    String(small.bytes),
    `${(large.bytes / small.bytes).toFixed(2)}x`,
  );
  row(
    "sweep files on disk, bytes",
    String(snapshot(dirs[1]!)),
    String(snapshot(dirs[0]!)),
    `${(snapshot(dirs[1]!) / snapshot(dirs[0]!)).toFixed(0)}x`,
  );
  const met = large.ms / small.ms <= 3 && large.bytes / small.bytes <= 3;
  console.log(`target: both within 3x ${met ? "met" : "NOT met"}`);
  for (const dir of dirs) await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--worker");
  if (at >= 0) await worker(Deno.args[at + 1]!);
  else await main();
}
