/**
 * Ours next to the original. 1,000 params of `true` on a sweep written
 * by Python execo's `ParamSweeper` (the seed's quickstart, bigger): the
 * original Python `minionize` 0.3.4 drains one copy and ours
 * (`MINION_ENGINE=execo minionize true`) drains the other, one minion each,
 * one run side by side. Wall time and the minion's peak resident memory
 * (GNU time's %M: the largest of the minion and the programs it ran).
 * Needs the venv of `tests/services/install/execo.sh` and /usr/bin/time.
 *
 * Run: `deno run -A bench/original_side_by_side.ts`.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { printTable } from "./_measure.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const VENV = `${ROOT}.cache/venv/bin`;
const PARAMS = 1000;

/** Wall seconds and peak RSS in MiB of a command, from GNU time. */
async function measure(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ seconds: number; mib: number }> {
  const report = `${cwd}/time.txt`;
  const { code, stderr } = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %M", "-o", report, ...argv],
    cwd,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `${argv.join(" ")} exited ${code}: ${
        new TextDecoder().decode(stderr).slice(-500)
      }`,
    );
  }
  const [seconds, kib] = (await Deno.readTextFile(report)).trim().split("\n")
    .at(-1)!.split(" ").map(Number) as [number, number];
  return { seconds, mib: kib / 1024 };
}

async function sweep(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const { code, stderr } = await new Deno.Command(`${VENV}/python`, {
    args: [
      "-c",
      `from execo_engine.sweep import ParamSweeper; ParamSweeper('sweeps', sweeps=range(${PARAMS}), save_sweeps=True)`,
    ],
    cwd: dir,
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
}

try {
  Deno.statSync(`${VENV}/minionize`);
  Deno.statSync("/usr/bin/time");
} catch {
  console.log(
    "skipped: needs the original (bash tests/services/install.sh execo) and GNU time",
  );
  Deno.exit(0);
}

const root = await Deno.makeTempDir({ prefix: "minionize-p9-" });
try {
  await sweep(`${root}/original`);
  await sweep(`${root}/ours`);
  const env = { MINION_ENGINE: "execo", PATH: Deno.env.get("PATH") ?? "" };
  const original = await measure(
    [`${VENV}/minionize`, "true"],
    `${root}/original`,
    env,
  );
  const ours = await measure(
    [Deno.execPath(), "run", "-A", "--quiet", `${ROOT}cli.ts`, "true"],
    `${root}/ours`,
    env,
  );
  console.log(
    `${PARAMS} params of \`true\`, execo sweep from ParamSweeper, one minion each, one run`,
  );
  printTable([
    ["", "wall s", "peak RSS MiB"],
    [
      "original minionize 0.3.4",
      original.seconds.toFixed(2),
      original.mib.toFixed(1),
    ],
    ["minionize (ours)", ours.seconds.toFixed(2), ours.mib.toFixed(1)],
    [
      "ratio original/ours",
      (original.seconds / ours.seconds).toFixed(2) + "x",
      (original.mib / ours.mib).toFixed(2) + "x",
    ],
  ]);
} finally {
  await Deno.remove(root, { recursive: true });
}
