/**
 * `minionize status` on a report directory that the original Python
 * minionize's json reporter wrote to, alone or beside ours.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { readStatus } from "../../commands/status.ts";
import { runCli, tempDir } from "../_cli.ts";
import { hasPython, pythonSweep, VENV } from "../engines/_execo_python.ts";

/** One line as minionize 0.3.4's json reporter writes it. */
function originalLine(generation: number, error: string | null): string {
  const start = 1_790_000_000 + generation;
  return JSON.stringify({
    uid: "4a7af17f-1820-4026-9ccc-08fe0c3b8bf8",
    generation,
    start,
    end: start + 0.5,
    param: generation,
    error,
    atomic_actions: [
      { name: "next", start, end: start + 0.01 },
      { name: "setup", start: start + 0.01, end: start + 0.01 },
      { name: "process", start: start + 0.01, end: start + 0.41 },
      { name: "teardown", start: start + 0.41, end: start + 0.5 },
    ],
    nodename: "node7",
  });
}

Deno.test("status reads the original's report files as minions of their own", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/4a7af17f-1820-4026-9ccc-08fe0c3b8bf8`,
    [originalLine(1, null), originalLine(2, "Command 'x' returned 1"), "{tor"]
      .join("\n"),
  );
  await Deno.writeTextFile(`${dir}/.cache.pickle`, "not a report");
  const report = await readStatus(dir);
  assertEquals(report.minions.length, 1);
  const [minion] = report.minions;
  assertEquals(
    [minion!.minion, minion!.host, minion!.state, minion!.done, minion!.failed],
    ["py-4a7af17f", "node7", "original", 1, 1],
  );
  assertEquals(report.phases.process.count, 2);
  assert(Math.abs(report.phases.process.mean - 400) < 1);
});

Deno.test({
  name:
    "status shows Python minions and ours side by side in one report directory",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(12);
    const env = { MINION_ENGINE: "execo", MINION_REPORTER: "json" };
    const python = new Deno.Command(`${VENV}/minionize`, {
      args: [`${cwd}/task.sh`, "py"],
      cwd,
      env: { ...env, RUNS: `${cwd}/runs`, TASK_SLEEP: "0.2" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ours = await runCli([`${cwd}/task.sh`, "ours"], {
      cwd,
      env: { ...env, RUNS: `${cwd}/runs`, TASK_SLEEP: "0.2" },
    });
    assertEquals(ours.code, 0, ours.stderr);
    assertEquals((await python.status).code, 0);
    const result = await runCli(["status", "--no-pictures"], { cwd });
    assertEquals(result.code, 0, result.stderr);
    assertMatch(result.stdout, /^py-[0-9a-f]{8} +original +\d+ +0 /m);
    assertMatch(result.stdout, /stopped \(drained\)/);
    assertMatch(result.stdout, /^total \(2 minions\) +12 +0 /m);
  },
});
