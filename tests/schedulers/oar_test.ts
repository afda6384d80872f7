import { assertEquals, assertThrows } from "../_assert.ts";
import { ConfigError } from "../../core/errors.ts";
import { oar, oarWalltime, withWalltime } from "../../schedulers/oar.ts";

Deno.test("oarsub is asked for one job named for the fleet, its walltime in each resource request", () => {
  assertEquals(
    oar.submitCommand({
      name: "fleet",
      script: "/d/f/job.sh",
      cwd: "/d",
      outputDir: "/d/f/out",
      walltimeMs: 3_600_000,
      args: ["-t", "besteffort"],
    }),
    [
      "oarsub",
      "-n",
      "fleet",
      "-d",
      "/d",
      "-O",
      "/d/f/out/OAR.%jobid%.stdout",
      "-E",
      "/d/f/out/OAR.%jobid%.stderr",
      "-l",
      "walltime=1:00:00",
      "-t",
      "besteffort",
      "/d/f/job.sh",
    ],
  );
  // Several -l are moldable alternatives: each gets the walltime.
  assertEquals(
    withWalltime(["-l", "nodes=1", "--resource=core=2", "-lcore=4"], "0:10:00"),
    [
      "-l",
      "nodes=1,walltime=0:10:00",
      "--resource=core=2,walltime=0:10:00",
      "-lcore=4,walltime=0:10:00",
    ],
  );
  assertEquals(withWalltime(["-l", "nodes=1"], undefined), ["-l", "nodes=1"]);
  assertEquals(oarWalltime(100 * 3_600_000 + 61_000), "100:01:01");
});

Deno.test("what oarsub and oarstat -J print is read back", () => {
  assertEquals(
    oar.parseSubmitted(
      "[ADMISSION RULE] Modify resource description with type constraints\nOAR_JOB_ID=13\n",
    ),
    "13",
  );
  assertEquals(oar.parseSubmitted("OAR_JOB_ID=-5\n"), undefined);
  // Cut from oarstat -u -J of OAR 2.5.9.
  const listed = JSON.stringify({
    "13": {
      name: "fleet",
      state: "Running",
      startTime: Math.floor(Date.now() / 1000) - 65,
      assigned_network_address: ["localhost"],
      Job_Id: 13,
    },
    "14": { name: "fleet", state: "Waiting", Job_Id: 14 },
    "12": { name: "fleet", state: "Error", Job_Id: 12 },
    "15": { name: null, state: "Running", Job_Id: 15 },
  });
  const jobs = oar.parseList(listed, "fleet");
  assertEquals(jobs.map((j) => [j.id, j.state, j.pending, j.where]), [
    ["13", "Running", false, "localhost"],
    ["14", "Waiting", true, "-"],
  ]);
  assertEquals(jobs[0]!.elapsed.startsWith("0:01:0"), true, jobs[0]!.elapsed);
  assertEquals(oar.parseList("", "fleet"), []);
  assertEquals(oar.ownJob({ OAR_JOB_ID: "13" }), "13");
});

Deno.test("oarsub options that would break the fleet's count are refused with the fix", () => {
  for (const args of [["-n", "x"], ["--array", "4"], ["-I"]]) {
    assertThrows(() => oar.checkArgs(args, undefined), ConfigError);
  }
  assertThrows(
    () => oar.checkArgs(["-l", "nodes=1,walltime=1:0:0"], 60_000),
    ConfigError,
  );
  oar.checkArgs(["-l", "nodes=1", "-t", "besteffort"], 60_000);
});
