/**
 * The single file next to the source. Start-up of three ways to run
 * the CLI, side by side in one run, each from an empty directory:
 *
 * - `deno run -A cli.ts` from the clone (what `deno task install` installs);
 * - a plain `deno bundle -o` file, every module in one script;
 * - `dist/minionize.js` as `deno task bundle` writes it (chunks unpacked when
 *   first imported).
 *
 * Two commands: `--version` (the CLI alone) and a file-engine minion that runs
 * `true` once (what a minion costs before its first task). Medians over
 * ROUNDS rounds after one warm-up round (which fills Deno's code cache), taken
 * in turn so that a busy machine slows all alike: wall seconds (measured
 * around the process) and peak RSS (GNU time's %M). Needs /usr/bin/time.
 *
 * Run: `deno run -A bench/bundle_startup.ts [ROUNDS]`.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { median, printTable } from "./_measure.ts";
import { bundle } from "../scripts/bundle.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ROUNDS = Number(Deno.args[0] ?? 7);

/** Wall seconds and peak RSS in MiB of one run, from GNU time. */
async function measure(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ seconds: number; mib: number }> {
  const report = `${cwd}/time.txt`;
  const started = performance.now();
  const { code, stderr } = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", report, ...argv],
    cwd,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  // GNU time's own wall clock counts hundredths: too coarse here.
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    throw new Error(
      `${argv.join(" ")} exited ${code}: ${
        new TextDecoder().decode(stderr).slice(-500)
      }`,
    );
  }
  const kib = Number(
    (await Deno.readTextFile(report)).trim().split("\n").at(-1),
  );
  return { seconds, mib: kib / 1024 };
}

try {
  Deno.statSync("/usr/bin/time");
} catch {
  console.log("skipped: needs GNU time (/usr/bin/time)");
  Deno.exit(0);
}

const dir = await Deno.makeTempDir({ prefix: "minionize-p10-" });
try {
  const plain = `${dir}/plain.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", plain, "cli.ts"],
    cwd: ROOT,
    stderr: "inherit",
  }).output();
  if (!built.success) throw new Error("deno bundle failed");
  const packed = (await bundle(`${dir}/minionize.js`)).output;
  await Deno.writeTextFile(`${dir}/params`, "1\n");
  const deno = Deno.execPath();
  const contenders: [string, string[], number][] = [
    [
      "deno run cli.ts",
      [
        deno,
        "run",
        "-A",
        "--quiet",
        "--config",
        `${ROOT}deno.json`,
        `${ROOT}cli.ts`,
      ],
      0,
    ],
    [
      "plain deno bundle -o",
      [deno, "run", "-A", "--quiet", plain],
      Deno.statSync(plain).size,
    ],
    [
      "deno task bundle",
      [deno, "run", "-A", "--quiet", packed],
      Deno.statSync(packed).size,
    ],
  ];
  const commands: [string, string[], Record<string, string>][] = [
    ["--version", ["--version"], {}],
    ["file job, 1 param", ["true"], {
      MINION_ENGINE: "file",
      FILE_PATH: "params",
    }],
  ];
  const env = { PATH: Deno.env.get("PATH") ?? "", NO_COLOR: "1" };
  const rows: (string | number)[][] = [[
    "",
    "size MB",
    ...commands.flatMap(([name]) => [`${name}: s`, "MiB"]),
  ]];
  const results = contenders.map(() =>
    commands.map(() => ({ seconds: [] as number[], mib: [] as number[] }))
  );
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [c, [, argv]] of contenders.entries()) {
      for (const [k, [, args, extra]] of commands.entries()) {
        const cost = await measure([...argv, ...args], dir, {
          ...env,
          ...extra,
        });
        if (round === 0) continue; // warm-up: fills the code cache
        results[c]![k]!.seconds.push(cost.seconds);
        results[c]![k]!.mib.push(cost.mib);
      }
    }
  }
  const medians = results.map((byCommand) =>
    byCommand.map((r) => ({ seconds: median(r.seconds), mib: median(r.mib) }))
  );
  for (const [c, [name, , size]] of contenders.entries()) {
    rows.push([
      name,
      size ? (size / 1e6).toFixed(1) : "-",
      ...medians[c]!.flatMap((m) => [m.seconds.toFixed(3), m.mib.toFixed(1)]),
    ]);
  }
  // On a busy machine a run is only ever slowed down: the fastest of each
  // contender's runs is the steadier figure there, the median the usual one.
  const fastest = results.map((byCommand) =>
    byCommand.map((r) => Math.min(...r.seconds))
  );
  for (const [c, [name]] of contenders.entries()) {
    if (c === 0) continue;
    rows.push([
      `${name} ÷ cli.ts`,
      "",
      ...medians[c]!.flatMap((m, k) => [
        (m.seconds / medians[0]![k]!.seconds).toFixed(2) + "x",
        (m.mib / medians[0]![k]!.mib).toFixed(2) + "x",
      ]),
    ]);
    rows.push([
      `  fastest runs ÷ cli.ts's`,
      "",
      ...fastest[c]!.flatMap((s, k) => [
        (s / fastest[0]![k]!).toFixed(2) + "x",
        "",
      ]),
    ]);
  }
  console.log(
    `start-up from an empty directory, medians of ${ROUNDS} rounds after a warm-up`,
  );
  printTable(rows);
} finally {
  await Deno.remove(dir, { recursive: true });
}
