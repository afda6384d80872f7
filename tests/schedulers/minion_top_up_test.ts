/**
 * A minion of a fleet (`MINION_FLEET`) tops it up as it starts and as it
 * leaves, and says what happened on stderr and in its report; here with no
 * scheduler at all, so every top-up fails and the fleet backs off.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { runCli, tempDir } from "../_cli.ts";
import { FleetDir } from "../../schedulers/fleet_dir.ts";

Deno.test("a minion whose fleet cannot be topped up says so on stderr and in its report, and keeps working", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params.txt`, "a\nb\nc\n");
  const fleet = FleetDir.of(dir, "f");
  await fleet.create();
  await fleet.writeSpec({
    name: "f",
    scheduler: "slurm",
    cwd: dir,
    command: [],
    schedulerArgs: [],
    backlog: 1,
    maxJobs: 4,
    walltimeMs: null,
    concurrency: 1,
    stopped: false,
    updated: new Date().toISOString(),
  });
  const env = {
    MINION_ENGINE: "file",
    FILE_PATH: `${dir}/params.txt`,
    MINION_REPORTER: "json",
    REPORTER_JSON_DIRECTORY: `${dir}/reports`,
    MINION_FLEET: fleet.dir,
    // No squeue, no sbatch: the listing fails, as with a dead controller.
    PATH: "/nowhere",
    SLURM_JOB_ID: "42",
  };
  const first = await runCli(["/bin/echo"], { cwd: dir, env });
  assertEquals(first.code, 0, first.stderr);
  assertEquals(first.stdout.trim().split("\n").sort(), ["a", "b", "c"]);
  assertMatch(
    first.stderr,
    /minionize: warning: fleet f: could not top up: squeue failed, exit status 127: squeue: command not found/,
  );
  // The second top-up (as it leaves) waits out the back-off: one try only.
  assertMatch(
    first.stderr,
    /minionize: fleet f: submitted nothing: backing off after 1 failed submissions/,
  );

  const [report] = [...Deno.readDirSync(`${dir}/reports`)];
  const events = (await Deno.readTextFile(`${dir}/reports/${report!.name}`))
    .trim().split("\n").map((line) => JSON.parse(line));
  const topUps = events.filter((e) => e.type === "fleet.topup");
  assertEquals(topUps.map((e) => e.when).sort(), ["leave", "start"]);
  const failed = topUps.find((e) => e.error !== undefined);
  assertMatch(failed.error, /squeue failed/);
  assertEquals(failed.job, { scheduler: "slurm", id: "42" });
  assert(topUps.some((e) => /backing off/.test(e.note ?? "")));
  assertEquals(events.at(-1).type, "fleet.topup", "after minion.stopped");

  const state = await fleet.readState();
  assertEquals(state.failures, 1);
  const log = await fleet.readLog();
  assertEquals(log.length, 1, "a skipped top-up leaves no line in the log");
  assertEquals([log[0]!.job, log[0]!.by.length > 0], ["42", true]);
});
