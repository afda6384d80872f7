/**
 * The cost minionize adds per task. 2,000 params of `true`, two in
 * flight, file engine: minionize next to a bare `Deno.Command` loop,
 * `xargs -P2` and GNU `parallel -j2`, in one run (3 rounds, medians).
 * Target: minionize ≤ 1.10× the bare loop. Also the time from start to the
 * first task, next to `deno run` of an empty file.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import {
  type Cost,
  measure,
  median,
  onPath,
  printTable,
  timeCommand,
} from "./_measure.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const PARAMS = 2000;
const ROUNDS = 3;
const deno = Deno.execPath();
const dir = await Deno.makeTempDir({ prefix: "minionize-bench-" });
const params = `${dir}/params`;
await Deno.writeTextFile(
  params,
  Array.from({ length: PARAMS }, (_, i) => `${i}\n`).join(""),
);
const input = await Deno.readTextFile(params);

const contenders: [string, () => Promise<Cost>][] = [
  [
    "bare Deno.Command loop",
    () =>
      measure(deno, [
        "run",
        "-A",
        `${ROOT}bench/_bare_loop.ts`,
        params,
        "2",
      ]),
  ],
  [
    "minionize -j2",
    () =>
      measure(deno, ["run", "-A", `${ROOT}cli.ts`, "-j", "2", "true"], {
        env: { MINION_ENGINE: "file", FILE_PATH: params },
      }),
  ],
  [
    "xargs -P2",
    () => measure("xargs", ["-P2", "-n1", "true"], { stdin: input }),
  ],
];
if (onPath("parallel")) {
  contenders.push([
    "GNU parallel -j2",
    () => measure("parallel", ["-j2", "true"], { stdin: input }),
  ]);
} else {
  console.log("(GNU parallel is not installed: apt-get install parallel)");
}

const costs = new Map<string, Cost[]>(contenders.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of contenders) costs.get(name)!.push(await run());
}
const wall = (name: string) => median(costs.get(name)!.map((c) => c.wall));
const cpu = (name: string) =>
  costs.get(name)!.every((c) => c.cpu !== undefined)
    ? median(costs.get(name)!.map((c) => c.cpu!))
    : NaN;
const BARE = "bare Deno.Command loop";
const rows: (string | number)[][] = [[
  "contender",
  "wall s",
  "× bare (wall)",
  "cpu s",
  "× bare (cpu)",
]];
for (const [name] of contenders) {
  rows.push([
    name,
    wall(name).toFixed(2),
    (wall(name) / wall(BARE)).toFixed(2),
    cpu(name).toFixed(2),
    (cpu(name) / cpu(BARE)).toFixed(2),
  ]);
}
console.log(
  `Task overhead: ${PARAMS} params of 'true', 2 in flight, ${ROUNDS} rounds`,
);
printTable(rows);
const ratio = wall("minionize -j2") / wall(BARE);
console.log(
  `minionize / bare loop = ${ratio.toFixed(3)} wall, ${
    (cpu("minionize -j2") / cpu(BARE)).toFixed(3)
  } cpu (target ≤ 1.10 wall): ${ratio <= 1.10 ? "met" : "NOT met"}`,
);

// Start-up: from spawning the minion to its first task running, next to
// the whole run of an empty Deno program.
const empty = `${dir}/empty.ts`;
await Deno.writeTextFile(empty, "");
await Deno.writeTextFile(`${dir}/one`, "x\n");
const firstTask: number[] = [];
const emptyRun: number[] = [];
for (let round = 0; round < 5; round++) {
  emptyRun.push(await timeCommand(deno, ["run", empty]));
  const marker = `${dir}/first-${round}`;
  const started = Date.now();
  const child = new Deno.Command(deno, {
    args: ["run", "-A", `${ROOT}cli.ts`, "touch", marker],
    env: { MINION_ENGINE: "file", FILE_PATH: `${dir}/one` },
    stdout: "null",
  }).spawn();
  await child.status;
  firstTask.push((Deno.statSync(marker).mtime!.getTime() - started) / 1000);
}
console.log("\nStart-up (5 rounds, medians)");
printTable([
  ["what", "median s"],
  ["deno run empty.ts (whole run)", median(emptyRun).toFixed(3)],
  ["minionize start → first task", median(firstTask).toFixed(3)],
  ["ratio", (median(firstTask) / median(emptyRun)).toFixed(2)],
]);
await Deno.remove(dir, { recursive: true });
