import { assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { planSlots } from "../../core/slots.ts";
import { ConfigError } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";

const dir = await tempDir();
const status = `${dir}/status`;
await Deno.writeTextFile(status, "Cpus_allowed_list:\t0-3,8-11\n");
// taskset from util-linux, found as the minion would find it.
const PATH = Deno.env.get("PATH")!;

Deno.test("each slot gets its own GPUs, and -j defaults to GPUs per task", async () => {
  const plan = await planSlots({
    env: { CUDA_VISIBLE_DEVICES: "0,1,2,3", PATH },
    gpusPerTask: 1,
  });
  assertEquals(plan.concurrency, 4);
  assertEquals(
    [1, 2, 3, 4].map((n) => plan.slot(n).env.CUDA_VISIBLE_DEVICES),
    ["0", "1", "2", "3"],
  );
  assertEquals(plan.slot(3).devices, ["2"]);
  assertEquals(plan.slot(3).cpus, undefined);
  assertEquals(
    plan.summary,
    "4 slots: 1 GPU per task of 4 (0,1,2,3 from CUDA_VISIBLE_DEVICES)",
  );
  assertThrows(() => plan.slot(5), RangeError, "the plan has slots 1 to 4");
  const pairs = await planSlots({
    env: { CUDA_VISIBLE_DEVICES: "0,1,2,3", PATH },
    gpusPerTask: 2,
    concurrency: 1,
  });
  assertEquals(pairs.concurrency, 1);
  assertEquals(pairs.slot(1).env, { CUDA_VISIBLE_DEVICES: "0,1" });
});

Deno.test("-j beyond the GPUs or CPUs there are is refused, saying what would fit", async () => {
  await assertRejects(
    () =>
      planSlots({
        env: { CUDA_VISIBLE_DEVICES: "0,1,2,3", PATH },
        gpusPerTask: 2,
        concurrency: 3,
      }),
    ConfigError,
    "Cannot give each task its GPUs: -j 3 with --gpus-per-task 2 needs 6 GPUs, but this minion has 4 (0,1,2,3 from CUDA_VISIBLE_DEVICES); lower -j to 2, or ask the scheduler for more GPUs",
  );
  await assertRejects(
    () =>
      planSlots({
        env: { CUDA_VISIBLE_DEVICES: "0,1", PATH },
        gpusPerTask: 3,
      }),
    ConfigError,
    "--gpus-per-task 3 needs 3 GPUs, but this minion has 2 (0,1 from CUDA_VISIBLE_DEVICES); lower --gpus-per-task, or ask",
  );
  await assertRejects(
    () =>
      planSlots({
        env: { PATH },
        cpusPerTask: 3,
        concurrency: 3,
        statusPath: status,
      }),
    ConfigError,
    "Cannot give each task its CPUs: -j 3 with --cpus-per-task 3 needs 9 CPUs, but this minion has 8 (0-3,8-11, this minion's affinity); lower -j to 2",
  );
});

Deno.test("each slot gets its own CPUs and thread counts, unless the user set them", async () => {
  const plan = await planSlots({
    env: { PATH, MKL_NUM_THREADS: "1" },
    cpusPerTask: 2,
    statusPath: status,
  });
  assertEquals(plan.concurrency, 4);
  assertEquals([1, 2, 3, 4].map((n) => plan.slot(n).cpus), [
    "0-1",
    "2-3",
    "8-9",
    "10-11",
  ]);
  assertEquals(plan.slot(3).env, {
    MINION_CPUS: "8-9",
    OMP_NUM_THREADS: "2",
    MKL_NUM_THREADS: "1",
    OPENBLAS_NUM_THREADS: "2",
  });
  assertEquals(plan.taskset?.endsWith("/taskset"), true);
});

Deno.test("with GPUs and CPUs both split, -j defaults to what both allow", async () => {
  const plan = await planSlots({
    env: { CUDA_VISIBLE_DEVICES: "0,1,2,3", PATH },
    gpusPerTask: 1,
    cpusPerTask: 3,
    statusPath: status,
  });
  assertEquals(plan.concurrency, 2);
  assertEquals(plan.slot(2).env, {
    CUDA_VISIBLE_DEVICES: "1",
    MINION_CPUS: "3,8-9",
    OMP_NUM_THREADS: "3",
    MKL_NUM_THREADS: "3",
    OPENBLAS_NUM_THREADS: "3",
  });
  assertEquals(plan.slot(2).isolatedEnv.CUDA_VISIBLE_DEVICES, "0");
  assertEquals(plan.slot(2).cpus, "3,8-9");
});

Deno.test("binding CPUs without taskset is refused, naming util-linux", async () => {
  await assertRejects(
    () => planSlots({ env: { PATH: dir }, cpusPerTask: 1 }),
    ConfigError,
    "needs taskset (util-linux), which is not on PATH; install util-linux, or drop --cpus-per-task",
  );
});
