/**
 * Node resources per slot: with `--gpus-per-task N` each of the `-j` slots
 * gets its own N GPUs, with `--cpus-per-task N` its own N CPUs, out of what
 * this minion was given (see `core/gpus.ts` and `core/cpus.ts`). A slot keeps
 * its share for the minion's life, and no two tasks run in one slot at once,
 * so no two running tasks share a GPU or a CPU.
 *
 * Loaded only when one of the two settings is given: without them, a task
 * costs nothing more than `MINION_SLOT`.
 *
 * @module
 */

import type { Env } from "./contracts.ts";
import { allowedCpus, formatCpuList } from "./cpus.ts";
import { ConfigError } from "./errors.ts";
import { findGpus, type GpuSet, gpuVariables, type GpuVendor } from "./gpus.ts";
import { findExecutable } from "./path.ts";

/** The thread-count variables a task bound to N CPUs gets, unless set. */
export const THREAD_VARIABLES = [
  "OMP_NUM_THREADS",
  "MKL_NUM_THREADS",
  "OPENBLAS_NUM_THREADS",
] as const;

/** What one slot's tasks get. */
export interface SlotResources {
  /** The slot, from 1. */
  readonly slot: number;
  /** Variables a program gets: its GPUs and thread counts. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The same for a container that sees only its own GPUs, numbered from 0
   * (podman and docker given the devices).
   */
  readonly isolatedEnv: Readonly<Record<string, string>>;
  /** Its CPUs, as `taskset -c` and `--cpuset-cpus` read them (`4-7`). */
  readonly cpus: string | undefined;
  /** Its GPUs as the node names them, for container runtimes. */
  readonly devices: readonly string[];
}

/** How a minion's node resources are split among its slots. */
export interface SlotPlan {
  /** Slots, hence tasks at once: `-j`, or what the resources allow. */
  readonly concurrency: number;
  /** The kind of GPU, when GPUs are split. */
  readonly vendor: GpuVendor | undefined;
  /** `taskset`'s path, when CPUs are split. */
  readonly taskset: string | undefined;
  /** What was found and how it is split, in one line for the minion's log. */
  readonly summary: string;
  /**
   * What slot `n` gets.
   *
   * @throws {RangeError} when `n` is not a slot of the plan
   */
  slot(n: number): SlotResources;
}

/** What {@linkcode planSlots} splits, and where it looks. */
export interface PlanOptions {
  /** The minion's variables: GPU selection, scheduler, PATH, thread counts. */
  env: Env;
  /** GPUs per task. @default {no GPU split} */
  gpusPerTask?: number | undefined;
  /** CPUs per task. @default {no CPU binding} */
  cpusPerTask?: number | undefined;
  /** `-j` when given; otherwise as many slots as the resources allow. */
  concurrency?: number | undefined;
  /** This node's name, for OAR's resource file. @default {Deno.hostname()} */
  hostname?: string;
  /** Where this process's allowed CPUs are read. @default {"/proc/self/status"} */
  statusPath?: string;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** How many slots `have` resources allow at `per` each, or why `-j` cannot fit. */
function fit(
  flag: string,
  what: string,
  have: number,
  per: number,
  concurrency: number | undefined,
  found: string,
): number {
  const fits = Math.floor(have / per);
  const wanted = (concurrency ?? 1) * per;
  if (wanted <= have) return fits;
  const asked = concurrency === undefined
    ? `${flag} ${per}`
    : `-j ${concurrency} with ${flag} ${per}`;
  const fix = fits >= 1 ? `lower -j to ${fits}` : `lower ${flag}`;
  throw new ConfigError(
    fits >= 1 ? "MINION_CONCURRENCY" : `MINION_${what}S_PER_TASK`,
    `Cannot give each task its ${what}s: ${asked} needs ${
      plural(wanted, what)
    }, but this minion has ${have} (${found}); ${fix}, or ask the scheduler for more ${what}s`,
  );
}

/**
 * Finds this minion's GPUs and CPUs and splits them among its slots.
 * Needs `--allow-read` and `--allow-run` (`nvidia-smi`).
 *
 * @param options the shares per task and `-j`
 * @returns the plan; its `concurrency` is `-j`, or the slots that fit
 * @throws {ConfigError} when the resources are missing or too few for `-j`,
 *   or `taskset` is missing for `cpusPerTask`
 *
 * @example One GPU per task of the four Slurm gave the job
 * ```ts
 * import { planSlots } from "./slots.ts";
 *
 * const plan = await planSlots({
 *   env: { CUDA_VISIBLE_DEVICES: "0,1,2,3" },
 *   gpusPerTask: 1,
 * });
 * console.log(plan.concurrency); // 4
 * console.log(plan.slot(3).env); // { CUDA_VISIBLE_DEVICES: "2" }
 * ```
 */
export async function planSlots(options: PlanOptions): Promise<SlotPlan> {
  const { env, gpusPerTask, cpusPerTask } = options;
  const limits: number[] = [];
  const said: string[] = [];

  let gpus: GpuSet | undefined;
  if (gpusPerTask !== undefined) {
    gpus = await findGpus(env, {
      ...(options.hostname ? { hostname: options.hostname } : {}),
    });
    const found = `${
      gpus.selectors[Object.keys(gpus.selectors)[0]!]!.join(",")
    } from ${gpus.source}`;
    limits.push(fit(
      "--gpus-per-task",
      "GPU",
      gpus.count,
      gpusPerTask,
      options.concurrency,
      found,
    ));
    said.push(
      `${plural(gpusPerTask, "GPU")} per task of ${gpus.count} (${found})`,
    );
  }

  let cpus: number[] | undefined;
  let taskset: string | undefined;
  if (cpusPerTask !== undefined) {
    taskset = await findExecutable("taskset", env.PATH);
    if (taskset === undefined) {
      throw new ConfigError(
        "MINION_CPUS_PER_TASK",
        `Cannot bind tasks to CPUs: MINION_CPUS_PER_TASK (--cpus-per-task) needs taskset (util-linux), which is not on PATH; install util-linux, or drop --cpus-per-task`,
      );
    }
    cpus = await allowedCpus(options.statusPath);
    const found = `${formatCpuList(cpus)}, this minion's affinity`;
    limits.push(fit(
      "--cpus-per-task",
      "CPU",
      cpus.length,
      cpusPerTask,
      options.concurrency,
      found,
    ));
    said.push(
      `${plural(cpusPerTask, "CPU")} per task of ${cpus.length} (${found})`,
    );
  }

  const concurrency = options.concurrency ?? Math.min(...limits);
  const threads: Record<string, string> = {};
  if (cpusPerTask !== undefined) {
    for (const name of THREAD_VARIABLES) {
      threads[name] = env[name]?.trim() || String(cpusPerTask);
    }
  }
  const slots: SlotResources[] = [];
  for (let n = 1; n <= concurrency; n++) {
    const [from, to] = gpus
      ? [(n - 1) * gpusPerTask!, n * gpusPerTask!]
      : [0, 0];
    const own = cpus
      ? formatCpuList(cpus.slice((n - 1) * cpusPerTask!, n * cpusPerTask!))
      : undefined;
    // For manual binding (numactl, MPI), as HyperQueue's HQ_CPUS.
    const bound = own === undefined ? {} : { MINION_CPUS: own, ...threads };
    slots.push({
      slot: n,
      env: { ...(gpus ? gpuVariables(gpus, from, to) : {}), ...bound },
      isolatedEnv: {
        ...(gpus ? gpuVariables(gpus, from, to, true) : {}),
        ...bound,
      },
      cpus: own,
      devices: gpus ? gpus.devices.slice(from, to) : [],
    });
  }
  return {
    concurrency,
    vendor: gpus?.vendor,
    taskset,
    summary: `${plural(concurrency, "slot")}: ${said.join("; ")}`,
    slot(n: number): SlotResources {
      const resources = slots[n - 1];
      if (resources === undefined) {
        throw new RangeError(
          `Cannot give slot ${n} its resources: the plan has slots 1 to ${concurrency}`,
        );
      }
      return resources;
    },
  };
}
