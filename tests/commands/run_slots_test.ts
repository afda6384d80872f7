/**
 * Slots and node resources end to end: the CLI splits a fake node's GPUs
 * (a stand-in `nvidia-smi`, scheduler variables) and this machine's CPUs
 * among tasks, and each task records what it saw.
 */
import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, runCli, tempDir } from "../_cli.ts";
import { fakeNvidiaSmi } from "../_fake_gpus.ts";
import { allowedCpus, formatCpuList, parseCpuList } from "../../core/cpus.ts";

const PATH = Deno.env.get("PATH")!;

/**
 * What each task saw, written by the task itself: its param, slot, GPU and
 * thread variables, the CPUs it may run on (read back from
 * /proc/self/status inside the task) and when it ran.
 */
const RECORD = `s=$(date +%s%N); sleep 0.3
c=$(grep Cpus_allowed_list /proc/self/status | cut -f2)
echo "$0 $MINION_SLOT \${CUDA_VISIBLE_DEVICES:--} \${OMP_NUM_THREADS:--} $c $s $(date +%s%N)" > "$OUT/$0"`;

interface Seen {
  param: string;
  slot: number;
  gpus: string[];
  threads: string;
  cpus: number[];
  start: number;
  end: number;
}

async function records(dir: string): Promise<Seen[]> {
  const seen: Seen[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const text = (await Deno.readTextFile(`${dir}/${entry.name}`)).trim();
    const [param, slot, gpus, threads, cpus, start, end] = text.split(" ");
    seen.push({
      param: param!,
      slot: Number(slot),
      gpus: gpus === "-" ? [] : gpus!.split(","),
      threads: threads!,
      cpus: parseCpuList(cpus!),
      start: Number(start) / 1e6,
      end: Number(end) / 1e6,
    });
  }
  return seen.sort((a, b) => Number(a.param) - Number(b.param));
}

/**
 * No two tasks running at the same time shared a slot, a GPU or (when
 * `cpus`, with CPUs bound) a CPU; says how many pairs ran at once.
 */
function assertNothingShared(seen: Seen[], cpus = false): number {
  let overlaps = 0;
  for (const [i, a] of seen.entries()) {
    for (const b of seen.slice(i + 1)) {
      if (a.end <= b.start || b.end <= a.start) continue;
      overlaps++;
      const both = `params ${a.param} and ${b.param} ran at once`;
      assert(a.slot !== b.slot, `${both} in slot ${a.slot}`);
      for (const gpu of a.gpus) {
        assert(!b.gpus.includes(gpu), `${both} on GPU ${gpu}`);
      }
      for (const cpu of cpus ? a.cpus : []) {
        assert(!b.cpus.includes(cpu), `${both} on CPU ${cpu}`);
      }
    }
  }
  return overlaps;
}

async function runTasks(
  args: string[],
  env: Record<string, string>,
  params = 8,
) {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/out`);
  const input = Array.from({ length: params }, (_, i) => i + 1).join("\n");
  const result = await runCli([...args, "sh", "-c", RECORD], {
    env: { MINION_ENGINE: "file", OUT: `${dir}/out`, ...env },
    stdin: `${input}\n`,
  });
  return { ...result, dir, seen: await records(`${dir}/out`) };
}

Deno.test("-j 4 --gpus-per-task 1 on a 4-GPU node: each task sees its own GPU", async () => {
  const gpus = await fakeNvidiaSmi(await tempDir(), 4);
  const { code, stderr, seen } = await runTasks(
    ["-j", "4", "--gpus-per-task", "1"],
    { PATH: `${gpus}:${PATH}` },
  );
  assertEquals(code, 0, stderr);
  assertEquals(
    stderr,
    "minionize: 4 slots: 1 GPU per task of 4 (0,1,2,3 from nvidia-smi -L)\n",
  );
  assertEquals(seen.length, 8);
  for (const task of seen) {
    assertEquals(task.gpus, [String(task.slot - 1)], `param ${task.param}`);
    assertEquals(task.threads, "-", "no thread count without CPUs per task");
  }
  assertEquals(new Set(seen.map((t) => t.slot)), new Set([1, 2, 3, 4]));
  assert(assertNothingShared(seen) > 0, "some tasks ran at once");
});

Deno.test("--gpus-per-task 2 alone splits Slurm's CUDA_VISIBLE_DEVICES into GPUs / 2 slots", async () => {
  const { code, stderr, seen } = await runTasks(
    ["--gpus-per-task", "2"],
    { CUDA_VISIBLE_DEVICES: "4,5,6,7", SLURM_JOB_GPUS: "4,5,6,7" },
    4,
  );
  assertEquals(code, 0, stderr);
  assertMatch(stderr, /^minionize: 2 slots: 2 GPUs per task of 4 /);
  for (const task of seen) {
    assertEquals(task.gpus, task.slot === 1 ? ["4", "5"] : ["6", "7"]);
  }
  assertNothingShared(seen);
});

Deno.test("OAR's resource file gives the GPUs when no variable does", async () => {
  const dir = await tempDir();
  const host = Deno.hostname();
  const file = `${dir}/7_resources`;
  await Deno.writeTextFile(
    file,
    [0, 1].map((gpu) =>
      ` core = '${gpu}' , gpudevice = '${
        gpu + 2
      }' , host = '${host}' , network_address = '${host}'`
    ).join("\n") + "\n",
  );
  // Two of the node's GPUs, hidden from each other by OAR's devices cgroup.
  const smi = await fakeNvidiaSmi(dir, 2);
  const { code, stderr, seen } = await runTasks(
    ["--gpus-per-task", "1"],
    { OAR_RESOURCE_PROPERTIES_FILE: file, PATH: `${smi}:${PATH}` },
    2,
  );
  assertEquals(code, 0, stderr);
  assertEquals(
    stderr,
    "minionize: 2 slots: 1 GPU per task of 2 (0,1 from OAR_RESOURCE_PROPERTIES_FILE)\n",
  );
  assertEquals(seen.map((t) => t.gpus[0]).sort(), ["0", "1"]);
});

Deno.test("more slots than GPUs, or no GPU at all, fails at start with one line", async () => {
  const gpus = await fakeNvidiaSmi(await tempDir(), 4);
  const many = await runTasks(
    ["-j", "5", "--gpus-per-task", "1"],
    { PATH: `${gpus}:${PATH}` },
  );
  assertEquals([many.code, many.stdout, many.seen.length], [2, "", 0]);
  assertEquals(
    many.stderr,
    "minionize: error: Cannot give each task its GPUs: -j 5 with --gpus-per-task 1 needs 5 GPUs, but this minion has 4 (0,1,2,3 from nvidia-smi -L); lower -j to 4, or ask the scheduler for more GPUs\n",
  );
  const none = await runTasks(["--gpus-per-task", "1"], {
    PATH: `${await tempDir()}:${PATH}`,
  });
  assertEquals([none.code, none.seen.length], [2, 0]);
  assertMatch(
    none.stderr,
    /^minionize: error: Cannot give each task its GPUs: none of CUDA_VISIBLE_DEVICES, .* and nvidia-smi is not on PATH; [^\n]*\n$/,
  );
});

Deno.test("-j 2 --cpus-per-task 1: two tasks at once, each bound to its own CPU", async () => {
  const mine = await allowedCpus();
  const { code, stderr, seen } = await runTasks(
    ["-j", "2", "--cpus-per-task", "1"],
    {},
    6,
  );
  assertEquals(code, 0, stderr);
  assertEquals(
    stderr,
    `minionize: 2 slots: 1 CPU per task of ${mine.length} (${
      formatCpuList(mine)
    }, this minion's affinity)\n`,
  );
  for (const task of seen) {
    assertEquals(task.cpus, [mine[task.slot - 1]!], `param ${task.param}`);
    assertEquals(task.threads, "1");
  }
  const bySlot = new Map(seen.map((t) => [t.slot, t.cpus.join()]));
  assertEquals(bySlot.size, 2);
  assert(bySlot.get(1) !== bySlot.get(2), "two distinct affinities");
  assert(assertNothingShared(seen, true) > 0, "some tasks ran at once");
});

Deno.test("a thread count the user set is kept", async () => {
  const { code, stderr, seen } = await runTasks(
    ["--cpus-per-task", "1", "-j", "1"],
    { OMP_NUM_THREADS: "3" },
    1,
  );
  assertEquals(code, 0, stderr);
  assertEquals(seen[0]!.threads, "3");
});

Deno.test("--cpus-per-task without taskset, or beyond this minion's CPUs, fails at start with one line", async () => {
  const bare = await runCli(["--cpus-per-task", "1", "/bin/sh", "-c", "true"], {
    env: { MINION_ENGINE: "file", PATH: await tempDir() },
    stdin: "1\n",
  });
  assertEquals(
    [bare.code, bare.stdout, bare.stderr],
    [
      2,
      "",
      "minionize: error: Cannot bind tasks to CPUs: MINION_CPUS_PER_TASK (--cpus-per-task) needs taskset (util-linux), which is not on PATH; install util-linux, or drop --cpus-per-task\n",
    ],
  );
  // A minion allowed one CPU cannot run two tasks on a CPU each.
  const [first] = await allowedCpus();
  const output = await new Deno.Command("taskset", {
    args: [
      "-c",
      String(first),
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      CLI,
      "-j",
      "2",
      "--cpus-per-task",
      "1",
      "true",
    ],
    env: { MINION_ENGINE: "file" },
    stdin: "null",
  }).output();
  assertEquals(output.code, 2);
  assertEquals(
    new TextDecoder().decode(output.stderr),
    `minionize: error: Cannot give each task its CPUs: -j 2 with --cpus-per-task 1 needs 2 CPUs, but this minion has 1 (${first}, this minion's affinity); lower -j to 1, or ask the scheduler for more CPUs\n`,
  );
});

Deno.test("{%} and MINION_SLOT name the task's slot", async () => {
  const { code, stdout, stderr } = await runCli(
    ["-j", "2", "sh", "-c", 'sleep 0.1; echo "$MINION_SLOT {%} {}"'],
    { env: { MINION_ENGINE: "file" }, stdin: "a\nb\nc\nd\n" },
  );
  assertEquals(code, 0, stderr);
  const lines = stdout.trim().split("\n").sort();
  assertEquals(lines.map((l) => l.split(" ")[2]).sort(), ["a", "b", "c", "d"]);
  for (const line of lines) {
    const [env, placeholder] = line.split(" ");
    assertEquals(env, placeholder);
    assert(["1", "2"].includes(env!), line);
  }
});

Deno.test("a dry run shows each slot's variables and CPUs", async () => {
  const mine = await allowedCpus();
  const taskset = (await new Deno.Command("sh", {
    args: ["-c", "command -v taskset"],
  }).output()).stdout;
  const { code, stdout, stderr } = await runCli(
    ["--dry-run", "-j", "1", "--gpus-per-task", "1", "--cpus-per-task", "1"]
      .concat(["echo", "{%}", "{}"]),
    {
      env: { MINION_ENGINE: "file", CUDA_VISIBLE_DEVICES: "GPU-x,GPU-y" },
      stdin: "p\n",
    },
  );
  assertEquals(code, 0, stderr);
  assertEquals(
    stdout,
    `CUDA_VISIBLE_DEVICES=GPU-x MINION_CPUS=${
      mine[0]
    } OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ${
      new TextDecoder().decode(taskset).trim()
    } -c ${mine[0]} echo 1 p\n`,
  );
});
