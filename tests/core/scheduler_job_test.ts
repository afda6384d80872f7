import { assertEquals } from "../_assert.ts";
import { runMinion } from "../../core/minion.ts";
import type { MinionEvent } from "../../core/contracts.ts";
import { formatJob, schedulerJob } from "../../core/scheduler_job.ts";
import { fakeEngine } from "../_fake_engine.ts";

Deno.test("a minion knows its Slurm job, array task included", () => {
  assertEquals(schedulerJob({ SLURM_JOB_ID: "124" }), {
    scheduler: "slurm",
    id: "124",
  });
  const task = schedulerJob({
    SLURM_JOB_ID: "124",
    SLURM_ARRAY_JOB_ID: "120",
    SLURM_ARRAY_TASK_ID: "4",
  })!;
  assertEquals(task, {
    scheduler: "slurm",
    id: "124",
    array: "120",
    index: "4",
  });
  assertEquals(formatJob(task), "slurm 120_4 (124)");
  assertEquals(formatJob({ scheduler: "slurm", id: "7" }), "slurm 7");
});

Deno.test("a minion knows its OAR job, and its array only when it has one", () => {
  // OAR makes every job an array of one, of its own id.
  assertEquals(
    schedulerJob({
      OAR_JOB_ID: "57",
      OAR_ARRAY_ID: "57",
      OAR_ARRAY_INDEX: "1",
    }),
    { scheduler: "oar", id: "57" },
  );
  const element = schedulerJob({
    OAR_JOB_ID: "57",
    OAR_ARRAY_ID: "50",
    OAR_ARRAY_INDEX: "8",
  })!;
  assertEquals(formatJob(element), "oar 57 (array 50 #8)");
  assertEquals(schedulerJob({ OAR_JOBID: "3" }), { scheduler: "oar", id: "3" });
});

Deno.test("a minion knows its PBS job, and nothing outside a batch job", () => {
  assertEquals(
    formatJob(schedulerJob({ PBS_JOBID: "12.server", PBS_ARRAY_INDEX: "2" })!),
    "pbs 12.server (#2)",
  );
  assertEquals(schedulerJob({}), undefined);
  assertEquals(schedulerJob({ SLURM_JOB_ID: " " }), undefined);
});

Deno.test("every event of a minion carries its job", async () => {
  const events: MinionEvent[] = [];
  await runMinion({
    engine: fakeEngine(["a", "b"]),
    callback: { process: () => {} },
    reporter: {
      report: (event) => void events.push(event),
      close: () => Promise.resolve(),
    },
    job: { scheduler: "oar", id: "9" },
  });
  assertEquals(events.length, 6);
  for (const event of events) {
    assertEquals(event.job, { scheduler: "oar", id: "9" }, event.type);
  }
});
