/**
 * minionize under a real OAR 2.5 (server and node on this machine, started
 * for the test), as the seed's users run it: minions in besteffort jobs
 * that OAR kills when a normal job needs the node, a fleet that tops itself
 * up (`minionize submit`), and examples/oar.sh as written.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, ROOT } from "../_cli.ts";
import { available, waitUntil } from "../services/harness.ts";
import {
  OAR_INSTALL,
  OAR_USER,
  type RunningOar,
  startOar,
} from "../services/oar.ts";
import {
  endedTwice,
  fleetLog,
  reportEvents,
  type Run,
  runsOf,
  sweepIn,
  timeline,
  watchJobs,
  workScript,
} from "./_fleet.ts";

const ok = available("Almighty", OAR_INSTALL) &&
  available("oarsub", OAR_INSTALL);
const NAME = "besteffort";
const PARAMS = 100;

/** A directory the job user owns, with minionize bundled into it. */
async function userDir(oar: RunningOar): Promise<{
  dir: string;
  bundle: string;
}> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-oar-test-" });
  await Deno.chmod(dir, 0o755);
  const bundle = `${dir}/minionize.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", bundle, CLI],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(built.success, new TextDecoder().decode(built.stderr));
  await chownAll(oar, dir);
  return { dir, bundle };
}

async function chownAll(oar: RunningOar, path: string): Promise<void> {
  const { success } = await new Deno.Command("chown", {
    args: ["-R", `${oar.user.uid}:${oar.user.gid}`, path],
  }).output();
  assert(success, `chown ${path}`);
}

interface OarJob {
  name?: string | null;
  state: string;
  exit_code?: number | null;
  stopTime?: number;
  events?: { type: string; date: number }[];
  stdout_file?: string;
}

async function oarstat(
  oar: RunningOar,
  args: string[],
): Promise<Record<string, OarJob>> {
  const { stdout, code, stderr } = await oar.run("oarstat", [...args, "-J"]);
  assertEquals(code, 0, stderr);
  const start = stdout.indexOf("{");
  return start < 0 ? {} : JSON.parse(stdout.slice(start));
}

/** The user's jobs named `name` that are not over, as the watcher samples them. */
async function jobsNamed(oar: RunningOar, name: string) {
  const all = await oarstat(oar, ["-u"]);
  return Object.entries(all)
    .filter(([, job]) =>
      job.name === name && !["Terminated", "Error"].includes(job.state)
    )
    .map(([id, job]) => ({
      id,
      state: job.state,
      pending: ["Waiting", "Hold", "toLaunch"].includes(job.state),
    }));
}

Deno.test({
  name:
    "OAR kills a fleet's besteffort minions for a normal job, the fleet's top-ups bring them back, and the sweep ends done with only killed params run twice",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const oar = await startOar({ resources: 4 });
    const { dir, bundle } = await userDir(oar);
    const t0 = Date.now();
    const watch = watchJobs(() => jobsNamed(oar, NAME), 500);
    const minionize = (args: string[]) =>
      oar.run(Deno.execPath(), ["run", "-A", "--quiet", bundle, ...args], {
        cwd: dir,
        env: { NO_COLOR: "1" },
      });
    try {
      // A short lease: the params of a killed minion come back in seconds.
      await sweepIn(dir, PARAMS, ["MINION_LEASE=10"]);
      const work = await workScript(dir, 1, "OAR_JOB_ID");
      await chownAll(oar, dir);

      const submitted = await minionize([
        "submit",
        "--scheduler",
        "oar",
        "--name",
        NAME,
        "--backlog",
        "2",
        "--max-jobs",
        "6",
        "--walltime",
        "10:00",
        "--",
        "-t",
        "besteffort",
        "--",
        work,
      ]);
      assertEquals(submitted.code, 0, submitted.stderr);
      assertMatch(submitted.stderr, /submitted 2 jobs: \d+ \d+/);

      // Four minions at work (one per resource), two more waiting.
      let victims: string[] = [];
      await waitUntil("four besteffort minions at work", async () => {
        const jobs = await jobsNamed(oar, NAME);
        victims = jobs.filter((j) => j.state === "Running").map((j) => j.id);
        const ends = (await runsOf(dir)).filter((r) => r.what === "end");
        return victims.length === 4 && ends.length >= 20;
      }, 180_000);

      // A normal job wants the whole node: OAR kills the besteffort jobs.
      const normalStart = Date.now();
      const normal = await oar.run("oarsub", [
        "-l",
        "/resource_id=4,walltime=0:01:00",
        "sleep 10",
      ], { cwd: dir });
      assertEquals(normal.code, 0, normal.stderr);
      const normalId = /OAR_JOB_ID=(\d+)/.exec(normal.stdout)![1]!;
      let normalEnd = 0;
      await waitUntil("the normal job to run and end", async () => {
        const job = (await oarstat(oar, ["-fj", normalId]))[normalId];
        if (job?.state !== "Terminated") return false;
        // When OAR says it ended (whole seconds), not when we noticed.
        normalEnd = job.stopTime ? job.stopTime * 1000 : Date.now();
        return true;
      }, 120_000);

      await waitUntil("the fleet to drain the sweep and leave", async () => {
        const counts = JSON.parse(
          (await minionize(["sweep", "status", "--json"])).stdout,
        );
        return counts.done === PARAMS &&
          (await jobsNamed(oar, NAME)).length === 0;
      }, 300_000);
      await watch.stop();

      const status = JSON.parse(
        (await minionize(["sweep", "status", "--json"])).stdout,
      );
      assertEquals(
        [status.done, status.todo, status.inProgress, status.failed],
        [PARAMS, 0, 0, 0],
      );

      // Which of the fleet's jobs OAR killed for the normal job.
      const log = await fleetLog(dir);
      const ids = log.flatMap((e) => e.submitted);
      const killed = new Set<string>();
      for (const id of ids) {
        const job = (await oarstat(oar, ["-fj", id]))[id];
        if (job?.events?.some((e) => e.type === "BESTEFFORT_KILL")) {
          killed.add(id);
        }
      }
      assert(killed.size >= 1, "OAR killed no besteffort job");
      assert(
        victims.every((id) => killed.has(id)),
        `the running minions ${victims} were killed: ${[...killed]}`,
      );

      // Every param ended at least once; a param ran twice, or a run was
      // cut short, only in a killed job (at most one in flight per minion).
      const runs = await runsOf(dir);
      const twice = endedTwice(runs);
      for (let param = 0; param < PARAMS; param++) {
        assert(runs.some((r) => r.what === "end" && r.param === param));
      }
      const startedIn = (param: number) =>
        runs.filter((r) => r.what === "start" && r.param === param);
      for (const [param] of twice) {
        assert(
          startedIn(param).some((r) => killed.has(r.job)),
          `param ${param} ran twice, in jobs OAR did not kill`,
        );
      }
      const cut: Run[] = runs.filter((r) =>
        r.what === "start" &&
        !runs.some((e) =>
          e.what === "end" && e.param === r.param && e.minion === r.minion
        )
      );
      for (const run of cut) {
        assert(killed.has(run.job), `run cut short in job ${run.job}`);
      }
      assert(
        twice.size + cut.length <= killed.size,
        `${twice.size} params ended twice and ${cut.length} runs were cut short by ${killed.size} kills`,
      );

      // Never more than 6 jobs; the fleet came back after the normal job:
      // a waiting minion started and topped the fleet up again.
      const counts = watch.samples.map((s) =>
        s.pending.length + s.running.length
      );
      // deno-lint-ignore no-console
      console.log(
        `job count over time (max ${
          Math.max(...counts)
        }; the normal job was submitted at t=${
          ((normalStart - t0) / 1000).toFixed(0)
        }s and ended at t=${
          ((normalEnd - t0) / 1000).toFixed(0)
        }s; OAR killed ${[...killed].join(" ")}):\n${
          timeline(watch.samples)
        }\n${ids.length} jobs submitted in ${log.length} decisions; params ended twice: ${
          [...twice.keys()].join(" ") || "none"
        }; runs cut short: ${cut.map((r) => r.param).join(" ") || "none"}`,
      );
      assert(Math.max(...counts) <= 6, `max ${Math.max(...counts)} jobs`);
      for (const id of watch.seen) assert(ids.includes(id), `job ${id}`);
      assert(
        log.some((e) =>
          e.when === "start" && e.submitted.length > 0 &&
          Date.parse(e.time) >= normalEnd
        ),
        `no top-up after the normal job: ${JSON.stringify(log)}`,
      );
      assert(
        runs.some((r) => r.what === "end" && !killed.has(r.job)) &&
          [...new Set(runs.map((r) => r.job))].some((job) =>
            !killed.has(job) && Number(job) > Number(normalId)
          ),
        "minions submitted after the normal job ran params",
      );

      // Each job's output went to the fleet's out/ directory.
      const outputs = [
        ...Deno.readDirSync(`${dir}/minion-fleet/${NAME}/out`),
      ].map((e) => e.name);
      for (const id of ids.filter((id) => !killed.has(id))) {
        assert(outputs.includes(`OAR.${id}.stderr`), `${id}: ${outputs}`);
      }

      // The minions' events carry their OAR job.
      const events = await reportEvents(dir);
      for (const event of events) {
        assertEquals(event.job?.scheduler, "oar", JSON.stringify(event));
        assert(ids.includes(event.job!.id), JSON.stringify(event));
      }
      const fleet = JSON.parse(
        (await minionize(["submit", "--status", "--name", NAME, "--json"]))
          .stdout,
      );
      assertEquals([fleet.left, fleet.jobs.length], [0, 0]);
    } finally {
      await watch.stop();
      await oar.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "examples/oar.sh runs as written: an OAR array of 10 besteffort minions drains the sweep of its comment",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const oar = await startOar({ resources: 4 });
    const { dir, bundle } = await userDir(oar);
    // `minionize` on the job user's PATH, as the recipe expects.
    const wrapper = `${oar.user.home}/bin/minionize`;
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nexec ${Deno.execPath()} run -A --quiet ${bundle} "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    await Deno.mkdir(`${dir}/examples`);
    await Deno.copyFile(`${ROOT}examples/oar.sh`, `${dir}/examples/oar.sh`);
    await Deno.chmod(`${dir}/examples/oar.sh`, 0o755);
    await chownAll(oar, dir);
    try {
      // The three commands of the recipe's comment, in the user's shell.
      const shell = await oar.run("bash", [
        "-c",
        [
          "echo MINION_ENGINE=execo > .env",
          "minionize sweep create --param alpha=1,2,3 --param beta=x,y",
          "oarsub --array 10 -S ./examples/oar.sh",
        ].join(" && "),
      ], {
        cwd: dir,
        env: { PATH: `${oar.user.home}/bin:${Deno.env.get("PATH")}` },
      });
      assertEquals(shell.code, 0, shell.stderr);
      const ids = [...shell.stdout.matchAll(/OAR_JOB_ID=(\d+)/g)].map((m) =>
        m[1]!
      );
      assertEquals(ids.length, 10, shell.stdout);

      await waitUntil("the ten jobs to end", async () => {
        const all = await oarstat(oar, ["-u"]);
        return ids.every((id) =>
          !all[id] || ["Terminated", "Error"].includes(all[id]!.state)
        );
      }, 300_000);

      const lines: string[] = [];
      for (const id of ids) {
        const job = (await oarstat(oar, ["-fj", id]))[id]!;
        assertEquals([job.state, job.exit_code], ["Terminated", 0], id);
        assertEquals(job.name, "minions");
        const output = await Deno.readTextFile(`${dir}/${job.stdout_file}`);
        for (const line of output.split("\n").filter((l) => l !== "")) {
          assertMatch(line, new RegExp(`^hello from ${id} \\{`));
          lines.push(line.replace(/^hello from \d+ /, ""));
        }
      }
      const expected = [1, 2, 3].flatMap((alpha) =>
        ["x", "y"].map((beta) => JSON.stringify({ alpha, beta }))
      );
      assertEquals(lines.sort(), expected.sort());
      const status = await oar.run(
        Deno.execPath(),
        ["run", "-A", "--quiet", bundle, "sweep", "status", "--json"],
        { cwd: dir },
      );
      assertEquals(JSON.parse(status.stdout).done, 6);
    } finally {
      await oar.stop();
      await Deno.remove(wrapper).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

// The job user must exist for these tests; the installer creates it.
if (ok) {
  const passwd = await Deno.readTextFile("/etc/passwd");
  if (!passwd.split("\n").some((l) => l.startsWith(`${OAR_USER}:`))) {
    throw new Error(`no '${OAR_USER}' user: run '${OAR_INSTALL}'`);
  }
}
