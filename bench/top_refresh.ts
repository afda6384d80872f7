/**
 * The cost of one `minionize top` refresh over a reports directory of
 * 200 minions with 500 finished params each (~60 MB of json lines), while one
 * more event per minion arrives between refreshes: reading every file whole
 * (`readStatus`, as `minionize status` does) next to following them
 * (`ReportFollower`, as `top` does), medians of 5 refreshes. Target: a
 * followed refresh ≤ 0.05× a whole read.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { median, printTable } from "./_measure.ts";
import { readStatus, ReportFollower } from "../core/reports.ts";

const MINIONS = 200;
const EVENTS = 500;
const ROUNDS = 5;
const dir = await Deno.makeTempDir({ prefix: "minionize-bench-top-" });
const timings = { next: 0.5, setup: 0, process: 812.25, teardown: 0 };
const event = (minion: number, seq: number, type: string) =>
  JSON.stringify({
    type,
    time: new Date(1_800_000_000_000 + seq * 1000).toISOString(),
    minion: `node${minion}-4242-abcd`,
    host: `node${minion}`,
    pid: 4242,
    seq,
    param: { lr: 0.001 * seq, depth: seq % 7, name: `run-${seq}` },
    attempt: 1,
    ...(type === "param.finished" ? { outcome: "done", timings } : {}),
  }) + "\n";
for (let m = 0; m < MINIONS; m++) {
  const lines: string[] = [];
  for (let seq = 1; seq <= EVENTS; seq++) {
    lines.push(event(m, seq, "param.started"), event(m, seq, "param.finished"));
  }
  await Deno.writeTextFile(`${dir}/m${m}.jsonl`, lines.join(""));
}
let bytes = 0;
for await (const entry of Deno.readDir(dir)) {
  bytes += (await Deno.stat(`${dir}/${entry.name}`)).size;
}

let seq = EVENTS;
const appendOne = async () => {
  seq++;
  for (let m = 0; m < MINIONS; m++) {
    await Deno.writeTextFile(
      `${dir}/m${m}.jsonl`,
      event(m, seq, "param.started"),
      {
        append: true,
      },
    );
  }
};

const whole: number[] = [];
const followed: number[] = [];
const follower = new ReportFollower(dir);
const first = performance.now();
await follower.read();
const firstRead = (performance.now() - first) / 1000;
for (let round = 0; round < ROUNDS; round++) {
  await appendOne();
  let start = performance.now();
  const report = await readStatus(dir);
  whole.push((performance.now() - start) / 1000);
  start = performance.now();
  const minions = await follower.read();
  followed.push((performance.now() - start) / 1000);
  if (
    minions.length !== MINIONS || report.minions.length !== MINIONS ||
    minions.some((m) => m.done !== EVENTS || m.inFlight.length !== round + 1)
  ) throw new Error("the two readers disagree");
}
await Deno.remove(dir, { recursive: true });

const w = median(whole);
const f = median(followed);
console.log(
  `top refresh: ${MINIONS} report files, ${EVENTS} params each, ${
    (bytes / 1e6).toFixed(0)
  } MB; one event per file between refreshes; ${ROUNDS} rounds`,
);
printTable([
  ["reader", "s per refresh", "× whole read"],
  ["readStatus (whole files)", w.toFixed(3), "1.00"],
  [
    "ReportFollower, first read",
    firstRead.toFixed(3),
    (firstRead / w).toFixed(2),
  ],
  ["ReportFollower, next reads", f.toFixed(3), (f / w).toFixed(3)],
]);
console.log(
  `followed / whole = ${(f / w).toFixed(3)} (target ≤ 0.05): ${
    f / w <= 0.05 ? "met" : "NOT met"
  }`,
);
