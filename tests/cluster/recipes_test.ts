/**
 * The cluster recipes in examples/: syntax, and the Slurm script's signal
 * handling with a stand-in minion (the real one runs under Slurm in
 * slurm_test.ts).
 */

import { parse } from "yaml";
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { ROOT } from "../_cli.ts";

const decoder = new TextDecoder();

Deno.test("the shell recipes parse", async () => {
  for (const script of ["examples/slurm.sh", "examples/oar.sh"]) {
    const { code, stderr } = await new Deno.Command("bash", {
      args: ["-n", `${ROOT}${script}`],
      stderr: "piped",
    }).output();
    assertEquals(code, 0, `${script}: ${decoder.decode(stderr)}`);
  }
});

Deno.test("the Kubernetes recipe is a Job of minions in the image's entrypoint", async () => {
  const job = parse(
    await Deno.readTextFile(`${ROOT}examples/kubernetes/job.yaml`),
  );
  assertEquals([job.apiVersion, job.kind], ["batch/v1", "Job"]);
  assert(job.spec.parallelism > 1);
  assertEquals(job.spec.completions, undefined, "a work queue Job");
  const pod = job.spec.template.spec;
  assertEquals(pod.restartPolicy, "Never");
  const [container] = pod.containers;
  assertEquals(container.command, undefined, "minionize stays the entrypoint");
  assert(Array.isArray(container.args) && container.args.length > 0);
  assert(container.args.includes("--idle-exit"), "pods leave an idle queue");
  assert(
    container.env.some((e: { name: string }) => e.name === "MINION_ENGINE"),
  );
});

/**
 * Runs examples/slurm.sh outside Slurm with a stand-in minion that notes the
 * signals it gets and exits 143 on TERM; `act` signals the script.
 */
async function recipeWith(
  act: (script: Deno.ChildProcess, marks: string) => Promise<void>,
): Promise<{ code: number; stdout: string; marks: string }> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-recipe-" });
  try {
    const marks = `${dir}/marks`;
    const fake = `${dir}/fake-minion`;
    await Deno.writeTextFile(
      fake,
      `#!/bin/bash
trap 'echo TERM >> "${marks}"; kill $! 2>/dev/null; exit 143' TERM
echo "started $*" >> "${marks}"
sleep 30 & wait
echo "ended" >> "${marks}"
`,
    );
    await Deno.chmod(fake, 0o755);
    const script = new Deno.Command("bash", {
      args: [`${ROOT}examples/slurm.sh`, "a.out", "--flag"],
      env: { MINIONIZE: fake, SLURM_JOB_ID: "7", SLURM_ARRAY_TASK_ID: "2" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const output = script.output();
    await waitFor(async () =>
      (await Deno.readTextFile(marks).catch(() => "")).includes("started")
    );
    await act(script, marks);
    const { code, stdout } = await output;
    return {
      code,
      stdout: decoder.decode(stdout),
      marks: await Deno.readTextFile(marks),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("timed out");
}

Deno.test("the Slurm recipe turns its grace signal (USR1) into one TERM to the minion and reports its status", async () => {
  const { code, stdout, marks } = await recipeWith((script) => {
    script.kill("SIGUSR1");
    return Promise.resolve();
  });
  assertEquals(marks.trim().split("\n"), ["started a.out --flag", "TERM"]);
  assertEquals(code, 143);
  assertMatch(
    stdout,
    /minion exited with status 143 \(job 7, array task 2, restart 0\)/,
  );
});

Deno.test("the Slurm recipe outlives a TERM sent to the whole job without forwarding it", async () => {
  const { code, stdout, marks } = await recipeWith(async (script, marks) => {
    // Slurm signals every process: the script, then the minion.
    script.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pid = Number(
      decoder.decode(
        (await new Deno.Command("pgrep", {
          args: ["-P", String(script.pid), "-f", "fake-minion"],
          stdout: "piped",
        }).output()).stdout,
      ).trim(),
    );
    assert(pid > 0, "the minion is still running");
    Deno.kill(pid, "SIGTERM");
    await waitFor(async () =>
      (await Deno.readTextFile(marks)).includes("TERM")
    );
  });
  assertEquals(marks.trim().split("\n"), ["started a.out --flag", "TERM"]);
  assertEquals(code, 143);
  assertMatch(stdout, /minion exited with status 143/);
});
