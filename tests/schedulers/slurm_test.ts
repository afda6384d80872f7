import { assertEquals, assertThrows } from "../_assert.ts";
import { ConfigError } from "../../core/errors.ts";
import { slurm } from "../../schedulers/slurm.ts";
import { clockTime } from "../../schedulers/scheduler.ts";

Deno.test("sbatch is asked for one job named for the fleet, with the walltime and the user's options", () => {
  assertEquals(
    slurm.submitCommand({
      name: "fleet",
      script: "/d/minion-fleet/fleet/job.sh",
      cwd: "/d",
      outputDir: "/d/minion-fleet/fleet/out",
      walltimeMs: 90_061_000,
      args: ["--partition=debug", "-A", "proj"],
    }),
    [
      "sbatch",
      "--parsable",
      "--job-name=fleet",
      "--chdir=/d",
      "--output=/d/minion-fleet/fleet/out/%j.out",
      "--time=1-01:01:01",
      "--partition=debug",
      "-A",
      "proj",
      "/d/minion-fleet/fleet/job.sh",
    ],
  );
  assertEquals(clockTime(299_500), "00:05:00");
});

Deno.test("what sbatch --parsable and squeue print is read back", () => {
  assertEquals(slurm.parseSubmitted("1234\n"), "1234");
  assertEquals(slurm.parseSubmitted("1234;cluster\n"), "1234");
  assertEquals(slurm.parseSubmitted("sbatch: error: nope\n"), undefined);
  // squeue --noheader --name=fleet --format=%A|%T|%M|%R|%j, as Slurm 22.05 prints it
  const listed = [
    "14|PENDING|0:00|(Priority)|fleet",
    "13|PENDING|0:00|(Resources)|fleet",
    "9|RUNNING|0:04|vm|fleet",
    "8|COMPLETING|0:06|vm|fleet",
    "7|RUNNING|0:02|vm|other",
    "",
  ].join("\n");
  assertEquals(slurm.parseList(listed, "fleet"), [
    {
      id: "14",
      state: "PENDING",
      pending: true,
      elapsed: "0:00",
      where: "(Priority)",
    },
    {
      id: "13",
      state: "PENDING",
      pending: true,
      elapsed: "0:00",
      where: "(Resources)",
    },
    { id: "9", state: "RUNNING", pending: false, elapsed: "0:04", where: "vm" },
    {
      id: "8",
      state: "COMPLETING",
      pending: false,
      elapsed: "0:06",
      where: "vm",
    },
  ]);
  assertEquals(slurm.ownJob({ SLURM_JOB_ID: "9" }), "9");
  assertEquals(slurm.cancelCommand(["8", "9"]), ["scancel", "8", "9"]);
});

Deno.test("sbatch options that would break the fleet's count are refused with the fix", () => {
  for (
    const [args, option] of [
      [["-J", "x"], "-J"],
      [["--job-name=x"], "--job-name"],
      [["--array=0-9"], "--array"],
      [["-a", "1-3"], "-a"],
      [["--wrap", "echo"], "--wrap"],
    ] as const
  ) {
    const error = assertThrows(
      () => slurm.checkArgs(args, undefined),
      ConfigError,
    );
    assertEquals((error as ConfigError).variable, option, error.message);
  }
  assertThrows(() => slurm.checkArgs(["--time=10"], 60_000), ConfigError);
  slurm.checkArgs(["--time=10", "--account=a"], undefined);
});
