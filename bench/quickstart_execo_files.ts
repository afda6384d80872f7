/**
 * The seed's quickstart grown to 1,000 params of `true`. Python execo
 * writes three identical sweeps; the original Python `minionize` 0.3.4 runs
 * one, ours (`MINION_ENGINE=execo minionize true`) runs the second as it is,
 * in execo's files that Python minions could share, and the third after
 * `minionize sweep convert` (conversion timed apart), one minion each, side
 * by side in one run (target: at least 4x faster in execo's files). Needs
 * the venv of `tests/services/install/execo.sh`.
 *
 * Run: `deno run -A bench/quickstart_execo_files.ts` (`--quick` for 200 params).
 *
 * @module
 */

// deno-lint-ignore-file no-console
const ROOT = new URL("../", import.meta.url).pathname;
const VENV = `${ROOT}.cache/venv/bin`;
const quick = Deno.args.includes("--quick");
const count = quick ? 200 : 1000;

async function run(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<number> {
  const started = performance.now();
  const { code, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${code}: ${
        new TextDecoder().decode(stderr).slice(-500)
      }`,
    );
  }
  return seconds;
}

/** Whether every param of the sweep in `dir` was done, per Python execo. */
async function allDone(cwd: string, dir: string): Promise<boolean> {
  const { stdout } = await new Deno.Command(`${VENV}/python`, {
    args: [
      "-c",
      `import pickle
done = set()
with open('${dir}/done', 'rb') as f:
    while True:
        try: done.add(pickle.load(f))
        except EOFError: break
print(len(done))`,
    ],
    cwd,
  }).output();
  return Number(new TextDecoder().decode(stdout)) === count;
}

/** Seconds each tool takes on a fresh copy of the quickstart's sweep. */
async function round(
  cwd: string,
): Promise<
  {
    ours: number;
    converted: number;
    conversion: number;
    theirs: number;
    floor: number;
  }
> {
  for (const dir of ["ours", "theirs", "converted"]) {
    await Deno.remove(`${cwd}/${dir}`, { recursive: true }).catch(() => {});
    await run(
      `${VENV}/python`,
      [
        "-c",
        `from execo_engine.sweep import ParamSweeper; ParamSweeper('${dir}', sweeps=range(${count}), save_sweeps=True)`,
      ],
      cwd,
      {},
    );
  }
  const theirs = await run(`${VENV}/minionize`, ["true"], cwd, {
    MINION_ENGINE: "execo",
    EXECO_PERSISTENCE_DIR: "theirs",
  });
  if (!(await allDone(cwd, "theirs"))) {
    throw new Error("the original minionize left params undone");
  }
  const ours = await run(
    Deno.execPath(),
    ["run", "-A", `${ROOT}cli.ts`, "true"],
    cwd,
    { MINION_ENGINE: "execo", EXECO_PERSISTENCE_DIR: "ours" },
  );
  if (!(await allDone(cwd, "ours"))) {
    throw new Error("ours left params undone (as Python sees it)");
  }
  const conversion = await run(
    Deno.execPath(),
    ["run", "-A", `${ROOT}cli.ts`, "sweep", "convert", "converted"],
    cwd,
    {},
  );
  const converted = await run(
    Deno.execPath(),
    ["run", "-A", `${ROOT}cli.ts`, "true"],
    cwd,
    { MINION_ENGINE: "execo", EXECO_PERSISTENCE_DIR: "converted" },
  );
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, "sweep", "status", "--json"],
    cwd,
    env: { EXECO_PERSISTENCE_DIR: "converted" },
  }).output();
  const status = JSON.parse(new TextDecoder().decode(stdout));
  if (status.done !== count) throw new Error("ours left params undone");
  // What starting the programs alone costs from Deno: the floor for ours.
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    // As callbacks/process.ts starts a program.
    await new Deno.Command("true", { args: [String(i)], stdin: "null" })
      .spawn().status;
  }
  const floor = (performance.now() - started) / 1000;
  return { ours, converted, conversion, theirs, floor };
}

async function main(): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "p2-quickstart-" });
  const rounds = quick ? 1 : 3;
  let ours = Infinity;
  let converted = Infinity;
  let conversion = Infinity;
  let theirs = Infinity;
  let floor = Infinity;
  try {
    // Alternating rounds, best of each: load from elsewhere hits both alike.
    for (let i = 0; i < rounds; i++) {
      const times = await round(cwd);
      ours = Math.min(ours, times.ours);
      converted = Math.min(converted, times.converted);
      conversion = Math.min(conversion, times.conversion);
      theirs = Math.min(theirs, times.theirs);
      floor = Math.min(floor, times.floor);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
  console.log(
    `Quickstart in execo files, ${count} params of 'true', one minion, best of ${rounds}`,
  );
  console.log(
    `${"measure".padEnd(36)}${"minionize".padStart(12)}${
      "py 0.3.4".padStart(12)
    }${"ratio".padStart(10)}`,
  );
  const row = (label: string, seconds: number) =>
    console.log(
      `${label.padEnd(36)}${seconds.toFixed(2).padStart(12)}${
        theirs.toFixed(2).padStart(12)
      }${`${(theirs / seconds).toFixed(1)}x`.padStart(10)}`,
    );
  row("wall s, in execo's files (shared)", ours);
  row("wall s, after sweep convert", converted);
  row("  sweep convert itself, s", conversion);
  row("  floor: Deno spawns of 'true' alone", floor);
  console.log(
    `target: >= 4x faster in execo's files ${
      theirs / ours >= 4 ? "met" : "NOT met"
    }`,
  );
}

if (import.meta.main) await main();
