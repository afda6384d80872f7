/**
 * The top-up's own logic, with a stand-in for sbatch and squeue (the real
 * Slurm and OAR run in tests/cluster/submit_*_test.ts): the plan, the lock
 * that keeps concurrent top-ups within the limits, the leaving job, the
 * back-off and the stop after repeated failures.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { tempDir } from "../_cli.ts";
import { FleetDir, type FleetSpec } from "../../schedulers/fleet_dir.ts";
import type {
  CommandResult,
  CommandRunner,
} from "../../schedulers/scheduler.ts";
import {
  backoffMs,
  MAX_FAILURES,
  planTopUp,
  topUp,
} from "../../schedulers/top_up.ts";

Deno.test("the plan keeps the backlog waiting, within the limit and the work left", () => {
  const base = {
    pending: 0,
    running: 0,
    left: 100,
    concurrency: 1,
    backlog: 2,
    maxJobs: 6,
    leaving: false,
  };
  assertEquals(planTopUp(base).count, 2);
  assertEquals(planTopUp({ ...base, pending: 1, running: 3 }).count, 1);
  assertEquals(planTopUp({ ...base, pending: 2, running: 3 }), {
    count: 0,
    note: "2 waiting already",
  });
  // The limit counts waiting and running jobs, the caller included.
  assertEquals(planTopUp({ ...base, pending: 0, running: 6 }), {
    count: 0,
    note: "6 of at most 6 jobs already",
  });
  assertEquals(planTopUp({ ...base, pending: 0, running: 5 }).count, 1);
  // A leaving job does not count itself.
  assertEquals(planTopUp({ ...base, running: 6, leaving: true }).count, 1);
  // No more jobs than the params left can use, -j included.
  assertEquals(planTopUp({ ...base, running: 3, left: 4 }).count, 1);
  assertEquals(
    planTopUp({ ...base, running: 1, left: 4, concurrency: 2 }).count,
    1,
  );
  assertEquals(planTopUp({ ...base, running: 3, left: 3 }), {
    count: 0,
    note: "3 jobs are enough for the 3 params left",
  });
  assertEquals(planTopUp({ ...base, left: 0 }), {
    count: 0,
    note: "the queue is drained",
  });
  // Unknown work (a broker): the backlog and the limit decide.
  assertEquals(planTopUp({ ...base, left: undefined, running: 3 }).count, 2);
  // submit --jobs asks outright, within the same limits.
  assertEquals(planTopUp({ ...base, requested: 10 }).count, 6);
  assertEquals(
    planTopUp({ ...base, maxJobs: Infinity, requested: 10 }).count,
    10,
  );
});

Deno.test("back-off doubles from 30 s up to 10 minutes", () => {
  assertEquals([1, 2, 3, 4, 5, 9].map(backoffMs), [
    30_000,
    60_000,
    120_000,
    240_000,
    480_000,
    600_000,
  ]);
});

/** A stand-in for sbatch and squeue, holding a list of jobs. */
class FakeSlurm {
  jobs: { id: string; name: string; pending: boolean }[] = [];
  submissions = 0;
  next = 100;
  fail: string | undefined;

  constructor(readonly delayMs = 0) {}

  run: CommandRunner = async (argv): Promise<CommandResult> => {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (argv[0] === "squeue") {
      const name = argv.find((a) => a.startsWith("--name="))!.slice(7);
      return {
        code: 0,
        stdout: this.jobs.filter((j) => j.name === name).map((j) =>
          `${j.id}|${j.pending ? "PENDING" : "RUNNING"}|0:00|-|${j.name}`
        ).join("\n"),
        stderr: "",
      };
    }
    if (argv[0] === "sbatch") {
      this.submissions++;
      if (this.fail) return { code: 1, stdout: "", stderr: this.fail };
      const name = argv.find((a) => a.startsWith("--job-name="))!.slice(11);
      const id = String(this.next++);
      this.jobs.push({ id, name, pending: true });
      return { code: 0, stdout: `${id}\n`, stderr: "" };
    }
    return { code: 127, stdout: "", stderr: `${argv[0]}: not here` };
  };
}

async function fleetWith(
  spec: Partial<FleetSpec>,
  params: number,
): Promise<{ fleet: FleetDir; env: Record<string, string> }> {
  const dir = await tempDir();
  const file = `${dir}/params.txt`;
  await Deno.writeTextFile(
    file,
    Array.from({ length: params }, (_, i) => `${i}\n`).join(""),
  );
  const fleet = FleetDir.of(dir, "f");
  await fleet.create();
  await fleet.writeScript("#!/bin/sh\n");
  await fleet.writeSpec({
    name: "f",
    scheduler: "slurm",
    cwd: dir,
    command: ["minionize", "true"],
    schedulerArgs: [],
    backlog: 2,
    maxJobs: 6,
    walltimeMs: null,
    concurrency: 1,
    stopped: false,
    updated: new Date().toISOString(),
    ...spec,
  });
  return { fleet, env: { MINION_ENGINE: "file", FILE_PATH: file } };
}

Deno.test("minions topping up at the same moment never go over the limit: they take turns under the fleet's lock", async () => {
  const { fleet, env } = await fleetWith({ backlog: 5, maxJobs: 6 }, 100);
  const slurm = new FakeSlurm(20);
  const results = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      topUp({
        fleet,
        when: "start",
        by: `m${i}`,
        env,
        run: slurm.run,
      })),
  );
  // Without the lock each would have seen none and submitted five.
  assertEquals(slurm.jobs.length, 5);
  assertEquals(
    results.map((r) => r.submitted.length).sort(),
    [0, 0, 0, 5],
  );
  const log = await fleet.readLog();
  assertEquals(log.length, 4);
  assertEquals(log.flatMap((e) => e.submitted).length, 5);
  assertEquals(log.filter((e) => e.note === "5 waiting already").length, 3);
});

Deno.test("a job leaving a full fleet replaces itself; a starting one at the limit does not add", async () => {
  const { fleet, env } = await fleetWith({ backlog: 2, maxJobs: 3 }, 100);
  const slurm = new FakeSlurm();
  slurm.jobs = ["1", "2", "3"].map((id) => ({ id, name: "f", pending: false }));
  const start = await topUp({
    fleet,
    when: "start",
    by: "m",
    env: { ...env, SLURM_JOB_ID: "2" },
    run: slurm.run,
  });
  assertEquals([start.submitted, start.note], [
    [],
    "3 of at most 3 jobs already",
  ]);
  const leave = await topUp({
    fleet,
    when: "leave",
    by: "m",
    env: { ...env, SLURM_JOB_ID: "2" },
    reason: "max-params",
    run: slurm.run,
  });
  assertEquals(leave.submitted, ["100"]);
  const log = await fleet.readLog();
  assertEquals(log.map((e) => [e.job, e.when]), [["2", "start"], [
    "2",
    "leave",
  ]]);
});

Deno.test("nothing is submitted once the queue is drained, nor for a cancelled fleet", async () => {
  const { fleet, env } = await fleetWith({}, 0);
  const slurm = new FakeSlurm();
  const drained = await topUp({
    fleet,
    when: "leave",
    by: "m",
    env,
    run: slurm.run,
  });
  assertEquals([drained.submitted, drained.note], [[], "the queue is drained"]);
  const other = await fleetWith({ stopped: true }, 10);
  const cancelled = await topUp({
    fleet: other.fleet,
    when: "start",
    by: "m",
    env: other.env,
    run: slurm.run,
  });
  assertEquals(cancelled.note, "the fleet was cancelled");
  assertEquals(slurm.submissions, 0);
});

Deno.test("failed submissions back off, stop after five in a row, and submit resumes", async () => {
  const { fleet, env } = await fleetWith({}, 100);
  const slurm = new FakeSlurm();
  slurm.fail = "sbatch: error: Batch job submission failed: Invalid account";
  let clock = 1_000_000;
  const now = () => clock;
  const attempt = (when: "start" | "leave" | "submit" = "start") =>
    topUp({ fleet, when, by: "m", env, run: slurm.run, now });

  const first = await attempt();
  assertMatch(first.error!, /sbatch failed, exit status 1: .*Invalid account/);
  assertEquals(slurm.submissions, 1);
  // Within the back-off nobody tries: no storm of sbatch.
  for (let i = 0; i < 10; i++) {
    const waiting = await attempt(i % 2 ? "start" : "leave");
    assertMatch(waiting.note!, /backing off after 1 failed submissions/);
  }
  assertEquals(slurm.submissions, 1);
  for (let failures = 2; failures <= MAX_FAILURES; failures++) {
    clock += backoffMs(failures - 1);
    const result = await attempt();
    assert(result.error !== undefined);
    assertEquals(result.gaveUp === true, failures === MAX_FAILURES);
  }
  assertEquals(slurm.submissions, MAX_FAILURES);
  clock += 3_600_000;
  const stopped = await attempt();
  assertMatch(stopped.note!, /stopped submitting after 5 failures in a row/);
  assertEquals(slurm.submissions, MAX_FAILURES);
  const state = await fleet.readState();
  assertMatch(state.gaveUp!, /run minionize submit again to resume/);

  // minionize submit clears it, and a success resets the count.
  slurm.fail = undefined;
  const resumed = await attempt("submit");
  assertEquals(resumed.submitted.length, 2);
  assertEquals((await fleet.readState()).failures, 0);
  const log = await fleet.readLog();
  assertEquals(log.filter((e) => e.error !== undefined).length, 5);
});

Deno.test("a listing that fails counts as a failure and submits nothing", async () => {
  const { fleet, env } = await fleetWith({}, 100);
  const runner: CommandRunner = (argv) =>
    Promise.resolve(
      argv[0] === "squeue"
        ? {
          code: 1,
          stdout: "",
          stderr: "slurm_load_jobs error: Unable to contact slurm controller",
        }
        : { code: 0, stdout: "1\n", stderr: "" },
    );
  const result = await topUp({
    fleet,
    when: "start",
    by: "m",
    env,
    run: runner,
  });
  assertMatch(result.error!, /squeue failed, .*Unable to contact/);
  assertEquals(result.submitted, []);
  assertEquals((await fleet.readState()).failures, 1);
});
