/**
 * `srun -n 2 minionize sweep doctor DIR` under a real Slurm (one node,
 * started for the test): the two tasks of the job step meet as that step,
 * without --run or --peers, and run the checks together.
 */

import { assertEquals, assertMatch } from "../_assert.ts";
import { CLI } from "../_cli.ts";
import { available, waitUntil } from "../services/harness.ts";
import { SLURM_INSTALL, startSlurm } from "../services/slurm.ts";

const ok = available("slurmctld", SLURM_INSTALL) &&
  available("munged", SLURM_INSTALL);

Deno.test({
  name: "srun -n 2 minionize sweep doctor: the tasks of the job step meet",
  ignore: !ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minionize-doctor-" });
    await Deno.mkdir(`${dir}/sweeps`);
    await Deno.writeTextFile(
      `${dir}/job.sh`,
      `#!/bin/bash
srun -n 2 ${Deno.execPath()} run -A --quiet ${CLI} sweep doctor sweeps
`,
    );
    const slurm = await startSlurm({ cpus: 2 });
    try {
      const submitted = await slurm.run("sbatch", [
        "--parsable",
        "-n",
        "2",
        `--chdir=${dir}`,
        `--output=${dir}/out`,
        `${dir}/job.sh`,
      ]);
      assertEquals(submitted.code, 0, submitted.stderr);
      const job = submitted.stdout.trim();
      await waitUntil("the job to end", async () => {
        const { stdout } = await slurm.run("squeue", ["-h", "-j", job]);
        return stdout.trim() === "";
      }, 60_000);
      const out = await Deno.readTextFile(`${dir}/out`);
      const peers = out.split("\n").filter((line) => / peers /.test(line));
      assertEquals(peers.length, 2, out);
      for (const line of peers) {
        assertMatch(line, /^ok +peers +2 instances met/);
      }
      assertMatch(out, new RegExp(`\\.minionize-doctor/slurm-${job}\\.0\\b`));
      assertEquals(out.match(/^FAIL/gm), null, out);
      assertEquals([...Deno.readDirSync(`${dir}/sweeps`)], []);
    } finally {
      await slurm.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
