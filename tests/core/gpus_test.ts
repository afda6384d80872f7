import { assertEquals, assertRejects } from "../_assert.ts";
import { findGpus, gpuVariables } from "../../core/gpus.ts";
import { ConfigError } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";
import { fakeNvidiaSmi } from "../_fake_gpus.ts";

/** An empty directory, for a PATH on which nvidia-smi is missing. */
const nowhere = await tempDir();

Deno.test("GPUs Slurm selected with CUDA_VISIBLE_DEVICES are split in that numbering", async () => {
  const gpus = await findGpus({
    CUDA_VISIBLE_DEVICES: "0,1,2,3",
    PATH: nowhere,
  });
  assertEquals([gpus.source, gpus.vendor, gpus.count], [
    "CUDA_VISIBLE_DEVICES",
    "nvidia",
    4,
  ]);
  assertEquals(gpuVariables(gpus, 2, 3), { CUDA_VISIBLE_DEVICES: "2" });
  assertEquals(gpuVariables(gpus, 2, 4), { CUDA_VISIBLE_DEVICES: "2,3" });
  // A container given only its devices counts them from 0.
  assertEquals(gpuVariables(gpus, 2, 4, true), {
    CUDA_VISIBLE_DEVICES: "0,1",
  });
  assertEquals(gpus.devices, ["0", "1", "2", "3"]);
});

Deno.test("in a job confined to its GPUs, containers get Slurm's node numbers", async () => {
  // ConstrainDevices: the job sees its GPUs as 0,1 while they are 4,5.
  const gpus = await findGpus({
    CUDA_VISIBLE_DEVICES: "0,1",
    SLURM_JOB_GPUS: "4,5",
    PATH: nowhere,
  });
  assertEquals(gpuVariables(gpus, 1, 2), { CUDA_VISIBLE_DEVICES: "1" });
  assertEquals(gpus.devices, ["4", "5"]);
});

Deno.test("on AMD, ROCR_VISIBLE_DEVICES is narrowed and HIP's numbering starts again at 0", async () => {
  const gpus = await findGpus({
    ROCR_VISIBLE_DEVICES: "4,5,6,7",
    HIP_VISIBLE_DEVICES: "0,1,2,3",
    GPU_DEVICE_ORDINAL: "0,1,2,3",
    PATH: nowhere,
  });
  assertEquals([gpus.vendor, gpus.count], ["amd", 4]);
  assertEquals(gpuVariables(gpus, 2, 4), {
    ROCR_VISIBLE_DEVICES: "6,7",
    HIP_VISIBLE_DEVICES: "0,1",
    GPU_DEVICE_ORDINAL: "0,1",
  });
});

Deno.test("every GPU variable the job holds is narrowed alike", async () => {
  const gpus = await findGpus({
    CUDA_VISIBLE_DEVICES: "GPU-a,GPU-b",
    HIP_VISIBLE_DEVICES: "0,1",
    PATH: nowhere,
  });
  assertEquals(gpuVariables(gpus, 1, 2), {
    CUDA_VISIBLE_DEVICES: "GPU-b",
    HIP_VISIBLE_DEVICES: "1",
  });
});

Deno.test("GPU variables that disagree, or a job without GPUs, are refused", async () => {
  await assertRejects(
    () =>
      findGpus({
        CUDA_VISIBLE_DEVICES: "0,1,2,3",
        ROCR_VISIBLE_DEVICES: "0,1",
        PATH: nowhere,
      }),
    ConfigError,
    "CUDA_VISIBLE_DEVICES lists 4 GPUs (0,1,2,3) but ROCR_VISIBLE_DEVICES lists 2 (0,1); unset the one that is wrong",
  );
  await assertRejects(
    () => findGpus({ CUDA_VISIBLE_DEVICES: "NoDevFiles", PATH: nowhere }),
    ConfigError,
    "CUDA_VISIBLE_DEVICES is 'NoDevFiles': this job has no GPU",
  );
});

Deno.test("Slurm's GPU numbers are counted from 0 when nvidia-smi sees only the job's", async () => {
  const dir = await tempDir();
  const env = { SLURM_STEP_GPUS: "2,3", SLURM_JOB_GPUS: "0,1,2,3" };
  await fakeNvidiaSmi(dir, 2);
  const confined = await findGpus({ ...env, PATH: dir });
  assertEquals(confined.source, "SLURM_STEP_GPUS");
  assertEquals(confined.selectors, { CUDA_VISIBLE_DEVICES: ["0", "1"] });
  assertEquals(confined.devices, ["2", "3"]);
  await fakeNvidiaSmi(dir, 4);
  const open = await findGpus({ ...env, PATH: dir });
  assertEquals(open.selectors, { CUDA_VISIBLE_DEVICES: ["2", "3"] });
  const blind = await findGpus({ ...env, PATH: nowhere });
  assertEquals(blind.selectors, { CUDA_VISIBLE_DEVICES: ["2", "3"] });
});

Deno.test("OAR's gpudevice of this node's resources are its GPUs", async () => {
  const dir = await tempDir();
  const file = `${dir}/42_resources`;
  // One line per resource (a core here), as oarexec writes them.
  const line = (host: string, core: number, gpu: number) =>
    ` besteffort = 'YES' , core = '${core}' , gpu = '${
      gpu + 10
    }' , gpudevice = '${gpu}' , host = '${host}.site.grid5000.fr' , network_address = '${host}.site.grid5000.fr' ,`
      .replace(/ ,$/, "");
  await Deno.writeTextFile(
    file,
    [
      line("chifflot-1", 1, 3),
      line("chifflot-1", 2, 3),
      line("chifflot-1", 3, 1),
      line("chifflot-2", 4, 0),
    ].join("\n") + "\n",
  );
  const env = { OAR_RESOURCE_PROPERTIES_FILE: file, PATH: nowhere };
  const gpus = await findGpus(env, { hostname: "chifflot-1" });
  assertEquals(gpus.source, "OAR_RESOURCE_PROPERTIES_FILE");
  assertEquals(gpus.devices, ["1", "3"]);
  assertEquals(gpus.selectors, { CUDA_VISIBLE_DEVICES: ["1", "3"] });
  // OAR's devices cgroup hides the other GPUs: CUDA counts these from 0.
  await fakeNvidiaSmi(dir, 2);
  const confined = await findGpus({ ...env, PATH: dir }, {
    hostname: "chifflot-1.site.grid5000.fr",
  });
  assertEquals(confined.selectors, { CUDA_VISIBLE_DEVICES: ["0", "1"] });
  assertEquals(confined.devices, ["1", "3"]);
});

Deno.test("without any GPU variable, nvidia-smi -L lists the GPUs", async () => {
  const dir = await fakeNvidiaSmi(await tempDir(), 4);
  const gpus = await findGpus({ PATH: dir });
  assertEquals([gpus.source, gpus.count], ["nvidia-smi -L", 4]);
  assertEquals(gpus.selectors, {
    CUDA_VISIBLE_DEVICES: ["0", "1", "2", "3"],
  });
  // nvidia-smi numbers GPUs by PCI bus; CUDA must too, unless told otherwise.
  assertEquals(gpuVariables(gpus, 1, 2), {
    CUDA_VISIBLE_DEVICES: "1",
    CUDA_DEVICE_ORDER: "PCI_BUS_ID",
  });
  const told = await findGpus({
    PATH: dir,
    CUDA_DEVICE_ORDER: "FASTEST_FIRST",
  });
  assertEquals(gpuVariables(told, 1, 2), { CUDA_VISIBLE_DEVICES: "1" });
});

Deno.test("finding no GPU says where it looked", async () => {
  await assertRejects(
    () => findGpus({ PATH: nowhere }),
    ConfigError,
    "none of CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES, SLURM_STEP_GPUS, SLURM_JOB_GPUS or OAR's gpudevice is set, and nvidia-smi is not on PATH;",
  );
  const dir = await fakeNvidiaSmi(await tempDir(), 0, {
    fail:
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
  });
  await assertRejects(
    () => findGpus({ PATH: dir }),
    ConfigError,
    "nvidia-smi -L exited with code 9 (NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.)",
  );
});
