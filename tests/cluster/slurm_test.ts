/**
 * minionize under a real Slurm (one node, started for the test): the
 * examples/slurm.sh recipe as a job array on an execo sweep, with array
 * tasks cancelled gently and hard while they run, and a short time limit
 * the minion must leave before.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, ROOT, runCli } from "../_cli.ts";
import { available, waitUntil } from "../services/harness.ts";
import { type Run, runsOf, sweepIn, workScript } from "./_fleet.ts";
import {
  type RunningSlurm,
  SLURM_INSTALL,
  startSlurm,
} from "../services/slurm.ts";

const ok = available("slurmctld", SLURM_INSTALL) &&
  available("munged", SLURM_INSTALL);
const RECIPE = `${ROOT}examples/slurm.sh`;
const MINIONIZE = `${Deno.execPath()} run -A --quiet ${CLI}`;
const PARAMS = 200;

/** One JSON line of a report. */
interface ReportEvent {
  type: string;
  minion: string;
  param?: number;
  outcome?: string;
  reason?: string;
  exitCode?: number;
}

async function reportsOf(dir: string): Promise<Map<string, ReportEvent[]>> {
  const reports = new Map<string, ReportEvent[]>();
  for await (const entry of Deno.readDir(`${dir}/reports`)) {
    const text = await Deno.readTextFile(`${dir}/reports/${entry.name}`);
    const events = text.split("\n").filter((line) => line.startsWith("{"))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as ReportEvent];
        } catch {
          return []; // a line torn by the hard kill
        }
      });
    reports.set(entry.name.replace(/\.jsonl$/, ""), events);
  }
  return reports;
}

/** A running array task: its own job id, and the `ARRAY_TASK` name. */
interface Task {
  job: string;
  name: string;
}

/** The tasks of `arrayJob` now running, by array task id. */
async function runningTasks(
  slurm: RunningSlurm,
  arrayJob: string,
): Promise<Map<string, Task>> {
  const { stdout } = await slurm.run("squeue", [
    "-h",
    "-r",
    "-t",
    "R",
    "-j",
    arrayJob,
    "-o",
    "%K %A %i",
  ]);
  return new Map(
    stdout.trim().split("\n").filter((l) => l !== "").map((line) => {
      const [task, job, name] = line.trim().split(/\s+/) as [
        string,
        string,
        string,
      ];
      return [task, { job, name }];
    }),
  );
}

/**
 * Kills every process of a job with SIGKILL at once, as a node crash or
 * the kernel's OOM killer would: nothing is given back. (`scancel` always
 * sends TERM first, even `--signal=KILL`, which Slurm takes as a cancel.)
 */
async function crash(slurm: RunningSlurm, job: string): Promise<void> {
  const { stdout, code, stderr } = await slurm.run("scontrol", [
    "listpids",
    job,
  ]);
  assertEquals(code, 0, stderr);
  const pids = stdout.trim().split("\n").slice(1).map((line) =>
    Number(line.trim().split(/\s+/)[0])
  ).filter((pid) => pid > 0);
  assert(pids.length >= 2, `job ${job}'s processes: ${stdout}`);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
}

async function submit(
  slurm: RunningSlurm,
  dir: string,
  args: string[],
  output = `${dir}/out/%A_%a.out`,
): Promise<string> {
  const result = await slurm.run("sbatch", [
    "--parsable",
    `--chdir=${dir}`,
    `--output=${output}`,
    "--open-mode=append",
    ...args,
  ], { MINIONIZE });
  assertEquals(result.code, 0, result.stderr);
  return result.stdout.trim().split(";")[0]!;
}

async function drained(slurm: RunningSlurm, ms: number): Promise<void> {
  await waitUntil("every job to leave", async () => {
    const { stdout } = await slurm.run("squeue", ["-h", "-o", "%i"]);
    return stdout.trim() === "";
  }, ms);
}

/**
 * The `minion exited with status N (job J, ...)` lines the recipe printed,
 * by job, in order (a requeued job prints one per run).
 */
async function exitStatuses(dir: string): Promise<Map<string, number[]>> {
  const statuses = new Map<string, number[]>();
  for await (const entry of Deno.readDir(`${dir}/out`)) {
    const text = await Deno.readTextFile(`${dir}/out/${entry.name}`);
    for (
      const [, code, job] of text.matchAll(
        /minion exited with status (\d+) \(job (\d+),/g,
      )
    ) {
      statuses.set(job!, [...(statuses.get(job!) ?? []), Number(code)]);
    }
  }
  return statuses;
}

Deno.test({
  name:
    "a Slurm job array drains a 200-param sweep while tasks are cancelled, gently and hard, requeued and replaced",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minionize-slurm-" });
    await Deno.mkdir(`${dir}/out`);
    const slurm = await startSlurm({ cpus: 8 });
    try {
      // A short lease: a hard-killed minion's param comes back in seconds.
      await sweepIn(dir, PARAMS, ["MINION_LEASE=8"]);
      const work = await workScript(dir, 1, "SLURM_JOB_ID");

      const check = await slurm.run("sbatch", [
        "--test-only",
        `--chdir=${dir}`,
        RECIPE,
        work,
      ]);
      assertEquals(check.code, 0, check.stderr);
      assert(/to start at/.test(check.stderr), check.stderr);

      const first = await submit(slurm, dir, ["--array=0-5", RECIPE, work]);
      let tasks = new Map<string, Task>();
      await waitUntil("six minions at work", async () => {
        tasks = await runningTasks(slurm, first);
        const runs = await runsOf(dir);
        const working = new Set(runs.map((r) => r.job));
        const ended = runs.filter((r) => r.what === "end").length;
        return tasks.size === 6 && ended >= 30 &&
          [...tasks.values()].every((t) => working.has(t.job));
      }, 90_000);
      const task = (id: string) => tasks.get(id)!;

      // Gentle: TERM to every process of the job, as Slurm's preemption
      // and time limit do; plain scancel does that too, then KILLs what is
      // left after KillWait; requeue TERMs it and runs it again later (its
      // minion resumes). Hard: every process KILLed, nothing given back.
      const gentle = [task("0"), task("1"), task("2"), task("4")];
      for (const { name } of gentle.slice(0, 2)) {
        const r = await slurm.run("scancel", ["--full", "--signal=TERM", name]);
        assertEquals(r.code, 0, r.stderr);
      }
      const plain = await slurm.run("scancel", [gentle[2]!.name]);
      assertEquals(plain.code, 0, plain.stderr);
      const requeued = gentle[3]!.job;
      const requeue = await slurm.run("scontrol", ["requeue", requeued]);
      assertEquals(requeue.code, 0, requeue.stderr);
      const hard = task("3").job;
      await crash(slurm, hard);
      const replacements = await submit(slurm, dir, [
        "--array=0-3",
        RECIPE,
        work,
      ]);
      await drained(slurm, 180_000);

      // The sweep: every param done once, nothing left held or failed.
      const status = await runCli(["sweep", "status", "--json"], { cwd: dir });
      assertEquals(status.code, 0, status.stderr);
      const counts = JSON.parse(status.stdout);
      assertEquals(
        [counts.done, counts.todo, counts.inProgress, counts.failed],
        [PARAMS, 0, 0, 0],
      );

      // The runs: every param ended at least once. A run that started and
      // never ended was in flight in a cancelled job. A param may end twice
      // only when one end was in a cancelled job, killed after its program
      // ended and before the minion heard of it: the hard kill (after the
      // program, before the ack), or a TERM that reached the program after
      // its last line but before it exited.
      const runs = await runsOf(dir);
      const gentleJobs = gentle.map((t) => t.job);
      const cancelled = new Set([...gentleJobs, hard]);
      const ends = new Map<number, Run[]>();
      const starts = new Map<number, Run[]>();
      for (const run of runs) {
        const map = run.what === "end" ? ends : starts;
        map.set(run.param, [...(map.get(run.param) ?? []), run]);
      }
      const twice: number[] = [];
      for (let param = 0; param < PARAMS; param++) {
        const ended = ends.get(param) ?? [];
        assert(ended.length >= 1, `param ${param} never ended`);
        if (ended.length > 1) {
          twice.push(param);
          assertEquals(ended.length, 2, `param ${param} ran ${ended.length}×`);
          assert(
            ended.some((r) => cancelled.has(r.job)),
            `param ${param} ended twice, in jobs nobody cancelled`,
          );
        }
        for (const start of starts.get(param) ?? []) {
          const finished = ended.some((r) => r.minion === start.minion);
          assert(
            finished || cancelled.has(start.job),
            `param ${param} was cut short in job ${start.job}, which was not cancelled`,
          );
        }
      }
      const interrupted = runs.filter((r) =>
        r.what === "start" &&
        !(ends.get(r.param) ?? []).some((e) => e.minion === r.minion)
      );
      // Each cancelled minion (-j 1) had at most one param in flight.
      assert(
        twice.length + interrupted.length <= cancelled.size,
        `${twice.length} params ended twice (${twice}) and ${interrupted.length} runs were cut short by ${cancelled.size} cancellations`,
      );

      // The exit statuses the recipe wrote: 143 for the gently cancelled
      // (then 0 for the requeued job's second run), none for the
      // hard-killed (its script died too), 0 for the rest.
      const statuses = await exitStatuses(dir);
      const jobOfMinion = new Map(runs.map((r) => [r.minion, r.job]));
      for (const id of gentleJobs) {
        assertEquals(statuses.get(id), id === requeued ? [143, 0] : [143], id);
      }
      assertEquals(statuses.get(hard), undefined);
      const others = [...statuses].filter(([id]) => !cancelled.has(id));
      assertEquals(others.length, 5, `statuses: ${[...statuses]}`);
      assert(others.every(([, codes]) => `${codes}` === "0"), `${others}`);
      assert(
        [...statuses.keys()].some((id) => Number(id) > Number(replacements)),
        "a replacement task ran",
      );
      const restarted = await Deno.readTextFile(
        `${dir}/out/${first}_${
          [...tasks].find(([, t]) => t.job === requeued)![0]
        }.out`,
      );
      assertMatch(restarted, /status 0 \(job \d+, array task \d+, restart 1\)/);

      // The json reports: one per minion (the requeued job had two),
      // consistent with the above. Each gently stopped job has one minion
      // that left on the signal.
      const reports = await reportsOf(dir);
      assertEquals(reports.size, 11);
      const done = new Map<number, number>();
      const doneInHard = new Set<number>();
      const signalled: string[] = [];
      for (const [minion, events] of reports) {
        assertEquals(events[0]?.type, "minion.started", minion);
        const stopped = events.find((e) => e.type === "minion.stopped");
        const jobId = jobOfMinion.get(minion);
        for (const e of events) {
          if (e.type !== "param.finished") continue;
          assert(e.outcome !== "failed", `${minion}: ${JSON.stringify(e)}`);
          if (e.outcome === "done") {
            done.set(e.param!, (done.get(e.param!) ?? 0) + 1);
            if (jobId === hard) doneInHard.add(e.param!);
          }
        }
        if (jobId === hard) {
          assertEquals(stopped, undefined, "the hard-killed minion said bye");
        } else if (stopped?.reason === "signal") {
          assertEquals(stopped.exitCode, 143);
          signalled.push(jobId ?? minion);
        } else {
          assertEquals([stopped?.reason, stopped?.exitCode], ["drained", 0]);
        }
      }
      assertEquals(signalled.sort(), [...gentleJobs].sort());
      // Reported done once each, but for the hard-killed minion's last
      // param: killed before its report (0), or after its report and before
      // its ack was written (the ack waits up to 50 ms for the next claim),
      // so that another minion ran it again (2, one from the killed job).
      for (let param = 0; param < PARAMS; param++) {
        const times = done.get(param) ?? 0;
        const killedInFlight = (starts.get(param) ?? []).some((r) =>
          r.job === hard
        );
        assert(
          times === 1 || (killedInFlight && times === 0) ||
            (times === 2 && doneInHard.has(param)),
          `param ${param} reported done ${times}×`,
        );
      }
      assert(
        [...done.values()].filter((times) => times !== 1).length <= 1,
        "only the hard-killed minion's last param may be reported other than once",
      );
    } finally {
      await slurm.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "under a one-minute Slurm time limit a minion stops taking params in time and is never killed",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minionize-slurm-" });
    await Deno.mkdir(`${dir}/out`);
    const slurm = await startSlurm({ cpus: 2 });
    try {
      await sweepIn(dir, 40, []);
      const work = await workScript(dir, 4, "SLURM_JOB_ID");
      const job = await submit(slurm, dir, [
        "--time=1",
        "--wrap",
        `${MINIONIZE} ${work}; echo "minion exited with status $? (job $SLURM_JOB_ID, "`,
      ], `${dir}/out/walltime.out`);
      const { stdout: end } = await slurm.run("squeue", [
        "-h",
        "-j",
        job,
        "-o",
        "%e",
      ]);
      await drained(slurm, 150_000);

      const output = await Deno.readTextFile(`${dir}/out/walltime.out`);
      assert(!/TIME LIMIT|CANCELLED/.test(output), output);
      assert(
        /taking no more params: .* left before the walltime/.test(output),
        output,
      );
      assertEquals((await exitStatuses(dir)).get(job), [0], output);

      const runs = await runsOf(dir);
      const started = runs.filter((r) => r.what === "start").length;
      const ended = runs.filter((r) => r.what === "end").length;
      assertEquals(started, ended, "a run was cut short");
      assert(
        ended >= 8 && ended < 15,
        `${ended} runs in a minute (end ${end})`,
      );

      const [report] = [...(await reportsOf(dir)).values()];
      const stopped = report?.find((e) => e.type === "minion.stopped");
      assertEquals([stopped?.reason, stopped?.exitCode], ["walltime", 0]);
      const status = await runCli(["sweep", "status", "--json"], { cwd: dir });
      const counts = JSON.parse(status.stdout);
      assertEquals(
        [counts.done, counts.inProgress, counts.todo],
        [ended, 0, 40 - ended],
      );
    } finally {
      await slurm.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
