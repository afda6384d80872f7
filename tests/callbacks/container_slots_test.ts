/**
 * Containers given their slot's GPUs, CPUs and variables: the runtime
 * command lines of every dialect, then podman for real, its GPUs faked by a
 * CDI spec of the test's own (what `nvidia-ctk cdi generate` writes on a GPU
 * node, minus the device nodes).
 */
import { ContainerCallback, MINION_LABEL } from "../../callbacks/container.ts";
import { planSlots, type SlotPlan } from "../../core/slots.ts";
import { allowedCpus, formatCpuList } from "../../core/cpus.ts";
import { assert, assertEquals } from "../_assert.ts";
import { runCli, tempDir } from "../_cli.ts";
import {
  busyboxImage,
  containersLabelled,
  podman,
  podmanAvailable,
  RUN_OPTS,
  RUNTIME_OPTS,
} from "../services/podman.ts";

const task = { minionId: "n-1-ab12", seq: 3, attempt: 1, slot: 2 };

async function plan(env: Record<string, string>): Promise<SlotPlan> {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/status`, "Cpus_allowed_list:\t0-7\n");
  return await planSlots({
    env: { PATH: Deno.env.get("PATH")!, ...env },
    gpusPerTask: 2,
    cpusPerTask: 4,
    concurrency: 2,
    statusPath: `${dir}/status`,
  });
}

/** The words of `args` after the label, up to the image. */
function between(args: string[], image: string): string[] {
  return args.slice(args.indexOf("--label") + 2, args.indexOf(image));
}

Deno.test("podman gets the slot's GPUs by CDI name, its CPUs, and GPU variables counted from 0", async () => {
  const slots = await plan({ CUDA_VISIBLE_DEVICES: "0,1,2,3" });
  const callback = new ContainerCallback("img", ["run", "{%}"], {
    slots,
    runOptions: ["--network", "none"],
  });
  const { args } = callback.runCommand("p", task);
  assertEquals(between(args, "img"), [
    "-e",
    'MINION_PARAM="p"',
    "-e",
    "MINION_ID=n-1-ab12",
    "-e",
    "MINION_ATTEMPT=1",
    "-e",
    "MINION_SLOT=2",
    "-e",
    "CUDA_VISIBLE_DEVICES=0,1",
    "-e",
    "MINION_CPUS=4-7",
    "-e",
    "OMP_NUM_THREADS=4",
    "-e",
    "MKL_NUM_THREADS=4",
    "-e",
    "OPENBLAS_NUM_THREADS=4",
    "--device",
    "nvidia.com/gpu=2",
    "--device",
    "nvidia.com/gpu=3",
    "--cpuset-cpus",
    "4-7",
    "--network",
    "none",
  ]);
  assertEquals(args.slice(-2), ["run", "2"]);
});

Deno.test("docker gets --gpus with the devices quoted as one CSV field", async () => {
  const slots = await plan({ CUDA_VISIBLE_DEVICES: "0,1,2,3" });
  const { args } = new ContainerCallback("img", [], {
    runtime: "docker",
    slots,
  }).runCommand("p", task);
  const options = between(args, "img");
  assertEquals(options.slice(options.indexOf("--gpus")), [
    "--gpus",
    '"device=2,3"',
    "--cpuset-cpus",
    "4-7",
  ]);
});

Deno.test("AMD GPUs go by AMD's CDI names, ROCR's numbering starting at 0 inside", async () => {
  const slots = await plan({ ROCR_VISIBLE_DEVICES: "4,5,6,7" });
  const { args } = new ContainerCallback("img", [], { slots }).runCommand(
    "p",
    task,
  );
  const options = between(args, "img");
  assert(options.includes("ROCR_VISIBLE_DEVICES=0,1"), options.join(" "));
  assert(options.includes("HIP_VISIBLE_DEVICES=0,1"), options.join(" "));
  assertEquals(
    options.filter((_, i) => options[i - 1] === "--device"),
    ["amd.com/gpu=6", "amd.com/gpu=7"],
  );
});

Deno.test("apptainer runs under taskset with --nv and the node's GPU numbering", async () => {
  const slots = await plan({ CUDA_VISIBLE_DEVICES: "0,1,2,3" });
  const command = new ContainerCallback("sim.sif", ["sim"], {
    runtime: "apptainer",
    runtimeCommand: "/opt/bin/apptainer",
    slots,
  }).runCommand("p", task);
  assert(command.program.endsWith("/taskset"), command.program);
  assertEquals(command.args, [
    "-c",
    "4-7",
    "/opt/bin/apptainer",
    "exec",
    "--cleanenv",
    "--nv",
    "sim.sif",
    "sim",
    "p",
  ]);
  assertEquals(command.env.APPTAINERENV_CUDA_VISIBLE_DEVICES, "2,3");
  assertEquals(command.env.APPTAINERENV_MINION_SLOT, "2");
  assertEquals(command.env.APPTAINERENV_OMP_NUM_THREADS, "4");
});

// End to end through the CLI and a real podman.

const ok = podmanAvailable();

/** Podman reads CDI specs from /etc/cdi and /var/run/cdi (a tmpfs). */
const CDI_DIR = "/var/run/cdi";

Deno.test({
  name: "two containers at once, each with its own fake GPU, CPU and variables",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    const dir = await tempDir();
    // Names of the node's GPUs as CUDA_VISIBLE_DEVICES may hold them (UUIDs),
    // unique to this run so that no real CDI spec can clash with them.
    const id = crypto.randomUUID();
    const gpus = [0, 1].map((i) => `GPU-${id.slice(0, -1)}${i}`);
    const spec = `${CDI_DIR}/minionize-test-${id}.yaml`;
    await Deno.mkdir(CDI_DIR, { recursive: true });
    await Deno.writeTextFile(
      spec,
      [
        'cdiVersion: "0.5.0"',
        "kind: nvidia.com/gpu",
        "devices:",
        ...gpus.flatMap((name) => [
          `  - name: "${name}"`,
          "    containerEdits:",
          `      env: ["CDI_GPU=${name}"]`,
        ]),
      ].join("\n") + "\n",
    );
    try {
      const result = await runCli([
        "-j",
        "2",
        "--gpus-per-task",
        "1",
        "--cpus-per-task",
        "1",
        "--results",
        `${dir}/results`,
        "--container",
        image,
        "sh",
        "-c",
        'sleep 0.5; echo "$MINION_SLOT $CDI_GPU $CUDA_VISIBLE_DEVICES $OMP_NUM_THREADS"; cat /proc/self/status',
      ], {
        env: {
          MINION_ENGINE: "file",
          MINION_CONTAINER_RUNTIME: "podman",
          MINION_CONTAINER_RUNTIME_OPTS: RUNTIME_OPTS,
          MINION_CONTAINER_OPTS: RUN_OPTS,
          CUDA_VISIBLE_DEVICES: gpus.join(","),
        },
        stdin: "a\nb\nc\nd\n",
      });
      assertEquals(result.code, 0, result.stderr);
      const cpus = await allowedCpus();
      const seen = new Map<string, string>();
      for await (const entry of Deno.readDir(`${dir}/results`)) {
        if (!entry.isDirectory) continue;
        const out = await Deno.readTextFile(
          `${dir}/results/${entry.name}/stdout`,
        );
        const [slot, gpu, visible, threads] = out.split("\n")[0]!.split(" ");
        const affinity = /^Cpus_allowed_list:\s*(\S+)/m.exec(out)![1]!;
        const n = Number(slot);
        assertEquals(gpu, gpus[n - 1], `slot ${slot}'s device`);
        assertEquals([visible, threads], ["0", "1"], "counted from 0 inside");
        assertEquals(affinity, formatCpuList([cpus[n - 1]!]));
        seen.set(slot!, `${gpu} ${affinity}`);
      }
      assertEquals([...seen.keys()].sort(), ["1", "2"]);
      assert(seen.get("1") !== seen.get("2"));
    } finally {
      await Deno.remove(spec);
      const left = await containersLabelled(MINION_LABEL);
      if (left.length > 0) await podman(["rm", "-f", ...left]);
      assertEquals(left, [], "containers left behind");
    }
  },
});
