/**
 * The GPUs this minion was given, and the variables that hand a share of
 * them to one task.
 *
 * Where they come from, first found wins:
 * 1. the selection variables the scheduler set: `CUDA_VISIBLE_DEVICES`
 *    (Slurm's GRES), `ROCR_VISIBLE_DEVICES`, `HIP_VISIBLE_DEVICES` (AMD);
 * 2. Slurm's `SLURM_STEP_GPUS`, then `SLURM_JOB_GPUS`;
 * 3. OAR's `gpudevice` property of this node's resources, in the file
 *    `OAR_RESOURCE_PROPERTIES_FILE` names (OAR sets no GPU variable);
 * 4. `nvidia-smi -L`, when nothing says otherwise.
 *
 * A selection variable is in the numbering the program will read it in, so a
 * task gets its own entries of each one the job has. Slurm's and OAR's lists
 * are the node's device numbers (`/dev/nvidiaN`): a job whose other GPUs are
 * hidden by a device cgroup (Slurm's `ConstrainDevices`, OAR's devices
 * cgroup) sees its GPUs numbered from 0, which minionize tells by
 * `nvidia-smi -L` listing just as many GPUs as the scheduler gave.
 *
 * GPU numbers that come from Slurm, OAR or `nvidia-smi` follow NVML's order
 * (PCI bus), so a task also gets `CUDA_DEVICE_ORDER=PCI_BUS_ID` unless the
 * user set it: without it, CUDA numbers the fastest GPU first, and GPU 2 in
 * `CUDA_VISIBLE_DEVICES` would not be the GPU 2 `nvidia-smi` shows.
 *
 * On AMD, HIP numbers GPUs within `ROCR_VISIBLE_DEVICES`'s selection: when
 * that variable is narrowed to a task's GPUs, `HIP_VISIBLE_DEVICES` (and
 * `GPU_DEVICE_ORDINAL`, when set) become `0,1,...` for them.
 *
 * @module
 */

import type { Env } from "./contracts.ts";
import { ConfigError } from "./errors.ts";
import { hostname } from "./host.ts";
import { findExecutable } from "./path.ts";

/** The kind of GPU, which decides the container runtimes' device names. */
export type GpuVendor = "nvidia" | "amd";

/** The GPUs of this minion, found by {@linkcode findGpus}. */
export interface GpuSet {
  /** Where they were found, e.g. `CUDA_VISIBLE_DEVICES` or `nvidia-smi -L`. */
  source: string;
  /** `amd` when the job selects GPUs with ROCm's variables only, else `nvidia`. */
  vendor: GpuVendor;
  /** How many. */
  count: number;
  /**
   * The variables that select GPUs for a program, each with one entry per
   * GPU in its own numbering: those the environment holds, or
   * `CUDA_VISIBLE_DEVICES` when it holds none.
   */
  selectors: Record<string, string[]>;
  /** Variables a task gets as `0,1,...`: numbered within its own GPUs. */
  relative: string[];
  /** Variables every task gets as they are, e.g. `CUDA_DEVICE_ORDER`. */
  fixed: Record<string, string>;
  /** Each GPU as the node names it, for container runtimes' device options. */
  devices: string[];
}

/** Where {@linkcode findGpus} looks besides the environment. */
export interface FindGpusOptions {
  /** This node's name, to pick its lines in OAR's resource file. @default {Deno.hostname()} */
  hostname?: string;
}

/** The variables that select GPUs, in the order they are trusted. */
export const GPU_SELECTORS = [
  "CUDA_VISIBLE_DEVICES",
  "ROCR_VISIBLE_DEVICES",
  "HIP_VISIBLE_DEVICES",
] as const;

const HINT =
  "ask the scheduler for GPUs (e.g. sbatch --gpus-per-node=4, oarsub -l gpu=4), set CUDA_VISIBLE_DEVICES, or drop --gpus-per-task";

function entries(text: string | undefined): string[] {
  return (text ?? "").split(",").map((item) => item.trim()).filter((item) =>
    item !== ""
  );
}

/** `0,1,...,count-1`, as a list. */
export function ranks(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i));
}

function fail(message: string): never {
  throw new ConfigError(
    "MINION_GPUS_PER_TASK",
    `Cannot give each task its GPUs: ${message}`,
  );
}

/** The GPU indices `nvidia-smi -L` lists, or why there are none. */
async function nvidiaSmi(
  env: Env,
): Promise<{ ids: string[] } | { why: string }> {
  const path = await findExecutable("nvidia-smi", env.PATH);
  if (path === undefined) return { why: "nvidia-smi is not on PATH" };
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(path, {
      args: ["-L"],
      stdin: "null",
      // It can take seconds to wake a driver without persistence mode.
      signal: AbortSignal.timeout(60_000),
    }).output();
  } catch (error) {
    return { why: `nvidia-smi -L failed: ${(error as Error).message}` };
  }
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const said = new TextDecoder().decode(output.stderr).trim() || text.trim();
    return {
      why: `nvidia-smi -L exited with code ${output.code}${
        said ? ` (${said.split("\n")[0]})` : ""
      }`,
    };
  }
  // "GPU 0: NVIDIA A100 (UUID: GPU-...)"; MIG devices are indented below.
  return { ids: [...text.matchAll(/^GPU (\d+):/gm)].map((m) => m[1]!) };
}

/** The `gpudevice` numbers of this host's resources in OAR's resource file. */
async function oarGpus(env: Env, host: string): Promise<string[] | undefined> {
  const variable = env.OAR_RESOURCE_PROPERTIES_FILE?.trim()
    ? "OAR_RESOURCE_PROPERTIES_FILE"
    : env.OAR_RESOURCE_FILE?.trim()
    ? "OAR_RESOURCE_FILE"
    : undefined;
  if (variable === undefined) return undefined;
  const path = env[variable]!.trim();
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    fail(
      `${variable} names '${path}', which cannot be read (${
        (error as Error).message
      }); run the minion inside the OAR job, or set CUDA_VISIBLE_DEVICES`,
    );
  }
  // One resource per line: " host = 'n-1' , gpudevice = '2' , ...".
  const short = (name: string) => name.split(".")[0];
  const devices = new Set<string>();
  for (const line of text.split("\n")) {
    const props = Object.fromEntries(
      [...line.matchAll(/([A-Za-z_][A-Za-z0-9_]*) = '([^']*)'/g)].map((m) => [
        m[1]!,
        m[2]!,
      ]),
    );
    const node = props.network_address ?? props.host;
    const here = node === undefined || node === host ||
      short(node) === short(host);
    if (here && props.gpudevice?.trim()) devices.add(props.gpudevice.trim());
  }
  if (devices.size === 0) return undefined;
  return [...devices].sort((a, b) =>
    Number(a) - Number(b) || a.localeCompare(b)
  );
}

// NVML (nvidia-smi, Slurm's autodetection) numbers GPUs by PCI bus.
function pciOrder(env: Env): Record<string, string> {
  return env.CUDA_DEVICE_ORDER?.trim() ? {} : {
    CUDA_DEVICE_ORDER: "PCI_BUS_ID",
  };
}

function fromSelectors(env: Env, present: string[]): GpuSet {
  const [source] = present as [string];
  const lists: Record<string, string[]> = {};
  for (const name of present) lists[name] = entries(env[name]);
  const count = lists[source]!.length;
  if (count === 0 || lists[source]!.includes("NoDevFiles")) {
    fail(`${source} is '${env[source]}': this job has no GPU; ${HINT}`);
  }
  const relative: string[] = [];
  if ("ROCR_VISIBLE_DEVICES" in lists) {
    relative.push("HIP_VISIBLE_DEVICES");
    delete lists.HIP_VISIBLE_DEVICES;
    if (env.GPU_DEVICE_ORDINAL?.trim()) relative.push("GPU_DEVICE_ORDINAL");
  } else if (env.GPU_DEVICE_ORDINAL?.trim()) {
    lists.GPU_DEVICE_ORDINAL = entries(env.GPU_DEVICE_ORDINAL);
  }
  for (const [name, list] of Object.entries(lists)) {
    if (list.length !== count) {
      fail(
        `${source} lists ${count} GPUs (${
          env[source]
        }) but ${name} lists ${list.length} (${
          env[name]
        }); unset the one that is wrong`,
      );
    }
  }
  const slurm = entries(env.SLURM_STEP_GPUS || env.SLURM_JOB_GPUS);
  return {
    source,
    vendor: "CUDA_VISIBLE_DEVICES" in lists ? "nvidia" : "amd",
    count,
    selectors: lists,
    relative,
    fixed: {},
    // Slurm's lists name the node's devices even where CUDA counts from 0.
    devices: slurm.length === count ? slurm : lists[source]!,
  };
}

/**
 * Finds the GPUs this minion may use, as the module documentation says.
 * Needs `--allow-read` and, when it runs `nvidia-smi`, `--allow-run`.
 *
 * @param env the minion's variables
 * @param options this node's name, for OAR
 * @returns the GPUs, at least one
 * @throws {ConfigError} when there is none, or the variables disagree
 */
export async function findGpus(
  env: Env,
  options: FindGpusOptions = {},
): Promise<GpuSet> {
  const present = GPU_SELECTORS.filter((name) => env[name]?.trim());
  if (present.length > 0) return fromSelectors(env, present);

  const slurm = ["SLURM_STEP_GPUS", "SLURM_JOB_GPUS"].find((name) =>
    env[name]?.trim()
  );
  const oar = slurm
    ? undefined
    : await oarGpus(env, options.hostname ?? hostname());
  const given = slurm ? entries(env[slurm]) : oar;
  const smi = await nvidiaSmi(env);
  if (given !== undefined && given.length > 0) {
    const seen = "ids" in smi ? smi.ids.length : undefined;
    return {
      source: slurm ?? "OAR_RESOURCE_PROPERTIES_FILE",
      vendor: "nvidia",
      count: given.length,
      selectors: {
        CUDA_VISIBLE_DEVICES: seen === given.length
          ? ranks(given.length)
          : given,
      },
      relative: [],
      fixed: pciOrder(env),
      devices: given,
    };
  }
  if ("why" in smi || smi.ids.length === 0) {
    fail(
      `none of ${
        GPU_SELECTORS.join(", ")
      }, SLURM_STEP_GPUS, SLURM_JOB_GPUS or OAR's gpudevice is set, and ${
        "why" in smi ? smi.why : "nvidia-smi -L lists no GPU"
      }; ${HINT}`,
    );
  }
  return {
    source: "nvidia-smi -L",
    vendor: "nvidia",
    count: smi.ids.length,
    selectors: { CUDA_VISIBLE_DEVICES: smi.ids },
    relative: [],
    fixed: pciOrder(env),
    devices: smi.ids,
  };
}

/**
 * The variables that give a task the GPUs `from` to `to` (excluded) of
 * `gpus`.
 *
 * @param gpus what {@linkcode findGpus} found
 * @param from index of the task's first GPU
 * @param to index after its last
 * @param isolated the task runs in a container that sees only its own GPUs,
 *   numbered from 0 (podman, docker)
 * @returns the variables to set
 */
export function gpuVariables(
  gpus: GpuSet,
  from: number,
  to: number,
  isolated = false,
): Record<string, string> {
  const own = ranks(to - from).join(",");
  const env: Record<string, string> = {};
  for (const [name, list] of Object.entries(gpus.selectors)) {
    env[name] = isolated ? own : list.slice(from, to).join(",");
  }
  for (const name of gpus.relative) env[name] = own;
  return { ...env, ...gpus.fixed };
}
