/**
 * `minionize submit` under a real Slurm (one node of 4 CPUs, started for
 * the test): a fleet with `--backlog 2 --max-jobs 6`, each job a few params
 * long, drains a 300-param sweep by topping itself up, with no daemon.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { runCli } from "../_cli.ts";
import { available, waitUntil } from "../services/harness.ts";
import { SLURM_INSTALL, startSlurm } from "../services/slurm.ts";
import {
  endedTwice,
  fleetLog,
  reportEvents,
  runsOf,
  sweepIn,
  timeline,
  watchJobs,
  workScript,
} from "./_fleet.ts";

const ok = available("slurmctld", SLURM_INSTALL) &&
  available("munged", SLURM_INSTALL);
const PARAMS = 300;
const PER_JOB = 10;
const NAME = "sweep300";

Deno.test({
  name:
    "a Slurm fleet submitted with --backlog 2 --max-jobs 6 tops itself up until a 300-param sweep is drained, never above 6 jobs",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minionize-submit-" });
    const slurm = await startSlurm({ cpus: 4 });
    const list = async () => {
      const { code, stdout } = await slurm.run("squeue", [
        "--noheader",
        `--name=${NAME}`,
        "--format=%A|%T",
      ]);
      if (code !== 0) return undefined;
      return stdout.trim().split("\n").filter((l) => l !== "").map((l) => {
        const [id, state] = l.split("|");
        return { id: id!, pending: state === "PENDING" };
      });
    };
    const watch = watchJobs(list);
    try {
      await sweepIn(dir, PARAMS);
      // Half a second a param makes a job live about 5 s: longer than Slurm
      // takes to start a job submitted meanwhile (up to 3 s seen), so the
      // jobs a start submits overlap the jobs that submitted them and the
      // fleet does reach its limit. At 0.2 s the jobs ended first in about
      // half the runs and the fleet never held more than 4.
      const work = await workScript(dir, 0.5, "SLURM_JOB_ID");
      const submit = (jobs?: number) =>
        runCli([
          "submit",
          "--scheduler",
          "slurm",
          "--name",
          NAME,
          "--backlog",
          "2",
          "--max-jobs",
          "6",
          "--walltime",
          "5:00",
          ...(jobs === undefined ? [] : ["--jobs", String(jobs)]),
          "--",
          "--max-params",
          String(PER_JOB),
          work,
        ], { cwd: dir, env: slurm.env });

      const first = await submit();
      assertEquals(first.code, 0, first.stderr);
      assertMatch(first.stderr, /submitted 2 jobs: \d+ \d+/);

      // Mid-run, once the fleet is full: a second submit asking for five
      // more adds nothing beyond the limits, and the views show the jobs.
      await waitUntil(
        "the fleet to fill up",
        async () => {
          const jobs = await list();
          return (jobs?.length ?? 0) >= 6 && (await runsOf(dir)).length > 40;
        },
        120_000,
        async () =>
          `${(await runsOf(dir)).length} lines in runs.log; squeue: ${
            JSON.stringify(await list())
          }; ${timeline(watch.samples)}; fleet log: ${
            JSON.stringify(await fleetLog(dir))
          }`,
      );
      const second = await submit(5);
      assertEquals(second.code, 0, second.stderr);
      const added = Number(/submitted (\d+) job/.exec(second.stderr)?.[1]);
      const [, waiting, busy] =
        /before: (\d+) waiting, (\d+) running/.exec(second.stderr) ?? [];
      assert(
        added + Number(waiting) + Number(busy) <= 6,
        `the second submit went over the limit: ${second.stderr}`,
      );
      const status = await runCli(
        ["submit", "--status", "--name", NAME, "--json"],
        { cwd: dir, env: slurm.env },
      );
      assertEquals(status.code, 0, status.stderr);
      const fleet = JSON.parse(status.stdout);
      assertEquals(fleet.fleet.maxJobs, 6);
      assert(fleet.left > 0 && fleet.left < PARAMS, status.stdout);
      const running = (fleet.jobs as { state: string; minion?: string }[])
        .filter((j) => j.state === "RUNNING");
      assert(running.length >= 1, status.stdout);
      assert(
        running.some((j) => j.minion !== undefined),
        `submit --status names the minion of a running job: ${status.stdout}`,
      );
      const text = await runCli(["submit", "--status", "--name", NAME], {
        cwd: dir,
        env: slurm.env,
      });
      assertMatch(text.stdout, /jobs: \d+ waiting, \d+ running/);
      assertMatch(text.stdout, /queue: \d+ params left/);
      const top = await runCli(["top", "--once", "reports"], { cwd: dir });
      assertMatch(top.stdout, /JOB/);
      assertMatch(top.stdout, /slurm \d+/);

      await waitUntil("the fleet to drain the sweep and leave", async () => {
        const jobs = await list();
        const counts = await runCli(["sweep", "status", "--json"], {
          cwd: dir,
        });
        return jobs?.length === 0 &&
          JSON.parse(counts.stdout).done === PARAMS;
      }, 300_000);
      await watch.stop();

      // Every param done, none twice (nothing was killed).
      const sweep = JSON.parse(
        (await runCli(["sweep", "status", "--json"], { cwd: dir })).stdout,
      );
      assertEquals(
        [sweep.done, sweep.todo, sweep.inProgress, sweep.failed],
        [PARAMS, 0, 0, 0],
      );
      const runs = await runsOf(dir);
      const twice = endedTwice(runs);
      assertEquals([...twice.keys()], [], "params run twice");

      // Never more than 6 jobs; every job seen came from the fleet's own
      // submissions; enough jobs came and went to drain it a few at a time.
      const counts = watch.samples.map((s) =>
        s.pending.length + s.running.length
      );
      const log = await fleetLog(dir);
      const submitted = log.flatMap((e) => e.submitted);
      // deno-lint-ignore no-console
      console.log(
        `job count over time (max ${Math.max(...counts)}):\n${
          timeline(watch.samples)
        }\n${submitted.length} jobs submitted in ${log.length} decisions; params ended twice: ${twice.size}`,
      );
      assert(Math.max(...counts) <= 6, `max ${Math.max(...counts)} jobs`);
      assertEquals(new Set(submitted).size, submitted.length);
      for (const id of watch.seen) {
        assert(submitted.includes(id), `job ${id} was not the fleet's`);
      }
      assert(
        submitted.length >= PARAMS / PER_JOB,
        `${submitted.length} jobs for ${PARAMS} params of ${PER_JOB} per job`,
      );
      assert(
        log.some((e) => e.by !== "submit" && e.submitted.length > 0),
        "the minions topped the fleet up",
      );
      assert(log.every((e) => e.error === undefined), JSON.stringify(log));

      // None submitted after the drain (the last param's end).
      const events = await reportEvents(dir);
      const drained = Math.max(
        ...events.filter((e) => e.type === "param.finished").map((e) =>
          Date.parse(e.time)
        ),
      );
      const late = log.filter((e) =>
        e.submitted.length > 0 && Date.parse(e.time) > drained
      );
      assertEquals(late, [], "jobs submitted after the drain");

      // Every event names its Slurm job, one of the fleet's; status shows it.
      assert(events.length > PARAMS);
      for (const event of events) {
        assertEquals(event.job?.scheduler, "slurm", JSON.stringify(event));
        assert(submitted.includes(event.job!.id), JSON.stringify(event));
      }
      const byJob = new Map(runs.map((r) => [r.minion, r.job]));
      for (const event of events.filter((e) => e.type === "param.started")) {
        assertEquals(byJob.get(event.minion), event.job!.id);
      }
      assert(events.some((e) => e.type === "fleet.topup"));
      const report = await runCli(["status", "reports"], { cwd: dir });
      assertMatch(report.stdout, /job/);
      assertMatch(report.stdout, /slurm \d+/);
    } finally {
      await watch.stop();
      await slurm.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
