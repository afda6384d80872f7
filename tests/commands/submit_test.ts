/**
 * `minionize submit` end to end where no scheduler is needed: its help, bad
 * input (one line, exit 2, nothing written) and dry runs. Submissions to a
 * real Slurm and OAR are in tests/cluster/submit_*_test.ts.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, runCli, tempDir } from "../_cli.ts";
import { minionWalltime } from "../../commands/submit.ts";
import { splitWords } from "../../commands/submit_options.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("submit's words split into the scheduler's and the minion's at the second --", () => {
  assertEquals(splitWords(["-j", "2", "./a.out"], false), {
    schedulerArgs: [],
    minionArgs: ["-j", "2", "./a.out"],
  });
  assertEquals(splitWords(["-p", "debug", "--", "./a.out", "x"], true), {
    schedulerArgs: ["-p", "debug"],
    minionArgs: ["./a.out", "x"],
  });
  // One -- only: the usual end of options.
  assertEquals(splitWords(["./a.out"], true), {
    schedulerArgs: [],
    minionArgs: ["./a.out"],
  });
  // A program whose own arguments hold --: scheduler's arguments first.
  assertEquals(splitWords(["--", "./a.out", "--", "x"], true), {
    schedulerArgs: [],
    minionArgs: ["./a.out", "--", "x"],
  });
});

Deno.test("a job's minion leaves a little before the job's walltime", () => {
  assertEquals(minionWalltime(3_600_000), 3_540_000);
  assertEquals(minionWalltime(300_000), 270_000);
  assertEquals(minionWalltime(60_000), 50_000);
  assertEquals(minionWalltime(5_000), 1_000);
});

Deno.test("submit --help describes the fleet and its limits", async () => {
  const { code, stdout } = await runCli(["submit", "--help"]);
  assertEquals(code, 0);
  assertMatch(stdout, /--backlog K/);
  assertMatch(stdout, /--max-jobs M/);
  assertMatch(stdout, /-- SCHEDULER_ARGS --/);
});

Deno.test("bad submit input is one line and exit 2, and writes nothing", async () => {
  const dir = await tempDir();
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [
      ["--scheduler", "pbs", "/bin/true"],
      /MINION_SCHEDULER \(--scheduler\) is 'pbs': expected one of slurm, oar/,
    ],
    [
      ["--scheduler", "slurm", "no-such-program"],
      /Cannot submit 'no-such-program': no such program on PATH/,
    ],
    [["--scheduler", "slurm"], /no program for the minions to run/],
    [
      ["--scheduler", "slurm", "--walltime", "soon", "/bin/true"],
      /--walltime is 'soon'/,
    ],
    [
      ["--scheduler", "slurm", "--backlog", "many", "/bin/true"],
      /--backlog is 'many': expected a whole number/,
    ],
    [
      ["--scheduler", "slurm", "--max-jobs", "0", "/bin/true"],
      /--max-jobs is '0'/,
    ],
    [
      ["--scheduler", "slurm", "--jobs", "99999999", "/bin/true"],
      /--jobs is '99999999': expected a whole number from 0 to 10000/,
    ],
    [
      ["--scheduler", "slurm", "--walltime", "400-00:00:00", "/bin/true"],
      /--walltime is '400-00:00:00': .* from 1s to 365 days/,
    ],
    [
      ["--scheduler", "slurm", "--", "--array=1-4", "--", "/bin/true"],
      /sbatch option '--array' cannot be given to minionize submit: use minionize submit --jobs N/,
    ],
    [
      ["--scheduler", "oar", "--", "-n", "x", "--", "/bin/true"],
      /oarsub option '-n' cannot be given/,
    ],
    [
      ["--scheduler", "slurm", "--", "-j", "many", "/bin/true"],
      /MINION_CONCURRENCY \(-j\) is 'many'/,
    ],
    [
      ["--scheduler", "slurm", "--name", "a b", "/bin/true"],
      /MINION_FLEET_NAME \(--name\) is 'a b'/,
    ],
    [["--scheduler", "slurm", "/bin/true"], /sbatch is not on PATH/, {
      PATH: "/nowhere",
    }],
    [["--scheduler", "oar", "/bin/true"], /oarsub is not on PATH/, {
      PATH: "/nowhere",
    }],
    [["/bin/true"], /neither sbatch nor oarsub is on PATH/, {
      PATH: "/nowhere",
    }],
    [
      ["--status"],
      /Cannot read the fleet in '.*minion-fleet\/minions-.*': .*submit it first/,
    ],
  ];
  for (const [args, expected, env] of cases) {
    const { code, stdout, stderr } = await runCli(["submit", ...args], {
      cwd: dir,
      ...(env ? { env } : {}),
    });
    assertEquals(code, 2, `${args.join(" ")}: ${stderr}`);
    assertEquals(stdout, "");
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
    assertMatch(stderr, /^minionize: error: /);
    assertMatch(stderr, expected);
  }
  assertEquals(await exists(`${dir}/minion-fleet`), false);
});

Deno.test("submit --dry-run prints the job script and the submissions, and submits nothing", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params.txt`, "1\n2\n3\n4\n5\n");
  const env = {
    MINION_ENGINE: "file",
    FILE_PATH: `${dir}/params.txt`,
    MINION_RETRIES: "2",
    MINION_ID: "not-passed-on",
    MINIONIZE: "/opt/minionize --flag",
  };
  const { code, stdout, stderr } = await runCli([
    "submit",
    "--scheduler",
    "slurm",
    "--name",
    "dry",
    "--jobs",
    "9",
    "--max-jobs",
    "3",
    "--walltime",
    "1:00:00",
    "--dry-run",
    "--",
    "-p",
    "debug",
    "--",
    "-j",
    "2",
    "/bin/echo",
    "{}",
  ], { cwd: dir, env });
  assertEquals(code, 0, stderr);
  const lines = stdout.trim().split("\n");
  const commands = lines.filter((l) => !l.startsWith("#"));
  // Nine asked, three allowed.
  assertEquals(commands.length, 3);
  assertEquals(
    commands[0],
    `sbatch --parsable --job-name=dry --chdir=${dir} --output=${dir}/minion-fleet/dry/out/%j.out --time=01:00:00 -p debug ${dir}/minion-fleet/dry/job.sh`,
  );
  const script = lines.filter((l) => l.startsWith("#   ")).map((l) =>
    l.slice(4)
  );
  assertEquals(script[0], "#!/bin/sh");
  assert(script.includes(`cd ${dir} || exit 1`), stdout);
  assert(script.includes("export MINION_RETRIES=2"), stdout);
  assert(script.includes("export MINION_WALLTIME=3540"), stdout);
  assert(script.includes(`export FILE_PATH=${dir}/params.txt`), stdout);
  assert(!stdout.includes("MINION_ID"), "per-run variables stay out");
  assert(
    script.includes(`export MINION_FLEET=${dir}/minion-fleet/dry`),
    stdout,
  );
  assertEquals(script.at(-1), "exec /opt/minionize --flag -j 2 /bin/echo '{}'");
  assertEquals(await exists(`${dir}/minion-fleet`), false);
});

Deno.test("submit --dry-run on a drained queue submits nothing, and jobs start minionize the way submit was started", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/empty.txt`, "");
  const { code, stdout } = await runCli([
    "submit",
    "--scheduler",
    "oar",
    "--dry-run",
    "/bin/true",
  ], { cwd: dir, env: { MINION_ENGINE: "file", FILE_PATH: "empty.txt" } });
  assertEquals(code, 0);
  assertMatch(stdout, /^# the queue is drained$/m);
  assertEquals(stdout.split("\n").filter((l) => l.startsWith("oarsub")), []);
  assertMatch(
    stdout,
    new RegExp(`exec ${Deno.execPath()} run -A ${CLI} /bin/true`),
  );
});
