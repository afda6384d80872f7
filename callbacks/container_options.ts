/**
 * The container callback's settings: the runtimes it speaks to, its
 * options, and how `MINION_CONTAINER_*` variables choose them.
 *
 * @module
 */

import { split } from "npm:shlex@3.0.0";
import type { Env } from "../core/contracts.ts";
import { readChoice } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import { type Denial, denial, PERMISSIONS_HINT } from "../core/denied.ts";
import { findExecutable } from "../core/path.ts";
import type { SlotPlan } from "../core/slots.ts";

/** The container runtimes a {@linkcode ContainerCallback} can drive. */
export const CONTAINER_RUNTIMES = [
  "podman",
  "docker",
  "apptainer",
  "singularity",
] as const;

/** One of {@linkcode CONTAINER_RUNTIMES}. */
export type ContainerRuntime = typeof CONTAINER_RUNTIMES[number];

/** How a {@linkcode ContainerCallback} runs containers. */
export interface ContainerCallbackOptions {
  /** Which command-line dialect to speak. @default {"podman"} */
  runtime?: ContainerRuntime;
  /** The runtime's executable, a name on PATH or a path. @default {the runtime's name} */
  runtimeCommand?: string;
  /**
   * Global options of the runtime, put before its subcommand in every call
   * (`run`, `stop`, `rm`), e.g. `["--runtime", "/usr/sbin/runc"]`.
   * @default {[]}
   */
  runtimeOptions?: readonly string[];
  /**
   * Options of `run` (`exec` for apptainer), put before the image, e.g.
   * `["-v", "/data:/data", "--network", "none"]`.
   * @default {[]}
   */
  runOptions?: readonly string[];
  /** Run the command through `sh -c` inside the container, params quoted. @default {false} */
  shell?: boolean;
  /** Time between SIGTERM and SIGKILL when a run must stop, in ms. @default {5000} */
  graceMs?: number;
  /**
   * Keep each param's standard output and error in files under this
   * directory, and a job log (`joblog.tsv`), instead of passing them through.
   * @default {undefined}
   */
  resultsDir?: string;
  /**
   * Each slot's own GPUs and CPUs, from `planSlots` (`core/slots.ts`).
   * @default {undefined}
   */
  slots?: SlotPlan;
}

function splitWords(env: Env, variable: string, flag: string): string[] {
  const text = env[variable] ?? "";
  try {
    return split(text);
  } catch (error) {
    throw new ConfigError(
      variable,
      `Cannot split ${variable}${flag} '${text}' into words: ${
        (error as Error).message
      }; close the quote`,
      { cause: error },
    );
  }
}

/**
 * The container settings in `env`: `MINION_CONTAINER_RUNTIME` (default: the
 * first of podman, docker, apptainer, singularity found on PATH),
 * `MINION_CONTAINER_RUNTIME_OPTS` (global options) and
 * `MINION_CONTAINER_OPTS` (options of `run`), both split by shell rules.
 *
 * Needs `--allow-read` to search PATH.
 *
 * @param env the variables, flags already written in
 * @returns options for a {@linkcode ContainerCallback}, shell and grace aside
 * @throws {ConfigError} when the runtime is unknown or not installed, or an
 *   options variable has an unclosed quote
 */
export async function readContainerOptions(
  env: Env,
): Promise<ContainerCallbackOptions> {
  const variable = "MINION_CONTAINER_RUNTIME";
  const chosen = env[variable]?.trim()
    ? readChoice(env, variable, CONTAINER_RUNTIMES, "podman")
    : undefined;
  let runtime: ContainerRuntime | undefined;
  let runtimeCommand: string | undefined;
  let refused: Denial | undefined; // where Deno would not let us look
  for (const candidate of chosen ? [chosen] : CONTAINER_RUNTIMES) {
    try {
      runtimeCommand = await findExecutable(candidate, env.PATH);
    } catch (error) {
      if (!(refused ??= denial(error))) throw error;
      continue;
    }
    if (runtimeCommand !== undefined) {
      runtime = candidate;
      break;
    }
  }
  if (runtime === undefined && refused) {
    throw new ConfigError(
      variable,
      `Cannot look for a container runtime on PATH: Deno denied read access to '${refused.target}': run with read access to the runtime, e.g. --allow-read=$(command -v ${
        chosen ?? "podman"
      }) (${PERMISSIONS_HINT})`,
    );
  }
  if (runtime === undefined || runtimeCommand === undefined) {
    throw new ConfigError(
      variable,
      chosen
        ? `Cannot run containers: ${variable} (--container-runtime) is '${chosen}', but '${chosen}' is not on PATH; install it, or choose another of ${
          CONTAINER_RUNTIMES.join(", ")
        }`
        : `Cannot run containers: none of ${
          CONTAINER_RUNTIMES.join(", ")
        } is on PATH; install one, or add its directory to PATH (${variable} picks one)`,
    );
  }
  return {
    runtime,
    runtimeCommand,
    runtimeOptions: splitWords(env, "MINION_CONTAINER_RUNTIME_OPTS", ""),
    runOptions: splitWords(env, "MINION_CONTAINER_OPTS", " (--container-opt)"),
  };
}
