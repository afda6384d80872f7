/**
 * Callback `container`: runs one container per param through the runtime's
 * command line (podman, docker, apptainer or singularity), so that a minion
 * never needs a daemon's API and works wherever the runtime's CLI does.
 *
 * The container contract matches the process callback's: the in-container
 * argv is built by `core/template.ts` (param appended, or put in place of
 * `{}` / `{name}` / `{0}` / `{%}`, never through a shell unless asked for);
 * `MINION_PARAM` (JSON), `MINION_ID`, `MINION_ATTEMPT` and `MINION_SLOT` are
 * in the container's environment; its exit code is the outcome.
 *
 * When resources are split among slots (`core/slots.ts`), a container gets
 * its slot's GPUs (podman: CDI `--device nvidia.com/gpu=ID`, or `amd.com/gpu`;
 * docker: `--gpus "device=ID,..."`, or the AMD CDI names; apptainer and
 * singularity: `--nv` or `--rocm`), its CPUs (`--cpuset-cpus`; apptainer
 * runs under `taskset`) and the same variables as a program. Podman and
 * docker show a container only its own GPUs, numbered from 0, so the GPU
 * variables inside count from 0; apptainer shows every GPU, so they keep
 * the node's numbering.
 *
 * No container outlives its run: podman and docker containers are named
 * from the minion, the param's sequence number and a hash of the param,
 * started with `--rm`, and on a timeout or a shutdown stopped (`stop -t
 * GRACE`) then removed (`rm -f`) by name; a second signal removes them at
 * once. Apptainer has no container to remove: its process tree is
 * signalled, as for a process.
 *
 * @module
 */

import type { Callback, JsonValue, TaskContext } from "../core/contracts.ts";
import { terminateTree } from "../core/children.ts";
import { TaskFailure } from "../core/errors.ts";
import { canonicalJson } from "../core/param.ts";
import type { SlotPlan, SlotResources } from "../core/slots.ts";
import { buildArgv, formatArgv } from "../core/template.ts";
import { handOffParam, isBigParam } from "../core/param_env.ts";
import { spawnFailureReason } from "../core/spawn_error.ts";
import { type ChildRun, runChild } from "./_spawn.ts";
import type {
  ContainerCallbackOptions,
  ContainerRuntime,
} from "./container_options.ts";
import { removeNow, type RuntimeCli, stopContainer } from "./container_stop.ts";

export {
  CONTAINER_RUNTIMES,
  type ContainerCallbackOptions,
  type ContainerRuntime,
  readContainerOptions,
} from "./container_options.ts";

/** A runtime invocation: what {@linkcode ContainerCallback.runCommand} returns. */
export interface ContainerCommand {
  /** The runtime's executable. */
  program: string;
  /** Its arguments: global options, subcommand, options, image, argv. */
  args: string[];
  /** Variables added to the runtime's own environment (apptainer only). */
  env: Record<string, string>;
  /** The container's name (podman and docker only). */
  name?: string;
}

/**
 * The task fields a container's name and environment come from; without a
 * slot, the container gets no `MINION_SLOT` and no slot resources.
 */
export type ContainerTask =
  & Pick<TaskContext, "minionId" | "attempt" | "seq">
  & Partial<Pick<TaskContext, "slot">>;

/** Where a param over 64 KiB is mounted in a container, named by `MINION_PARAM_FILE`. */
export const CONTAINER_PARAM_FILE = "/tmp/minion-param.json";

/** The label every container started by a minion carries, set to the minion's id. */
export const MINION_LABEL = "minionize.minion";

const encoder = new TextEncoder();

// FNV-1a, 32 bits: a name needs a short stable hash, not a secure one, and
// a synchronous one lets `describe` show the real name.
function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

// Runtimes accept [a-zA-Z0-9][a-zA-Z0-9_.-]* as a container name.
function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]+/g, "_").slice(0, 80);
}

/**
 * Runs a container per param. Subclass it and override {@linkcode toArgs} to
 * build the in-container command line yourself.
 *
 * @example The runtime command a param gives
 * ```ts
 * import { ContainerCallback } from "../mod.ts";
 *
 * const callback = new ContainerCallback("alpine", ["echo", "hello"], {
 *   runOptions: ["--network", "none"],
 * });
 * const { args } = callback.runCommand("x y", {
 *   minionId: "node1-42-ab12", seq: 1, attempt: 1,
 * });
 * console.log(args.slice(-5)); // ["alpine", "echo", "hello", "x", "y"]
 * ```
 *
 * @example Build the in-container command from an object param
 * ```ts
 * import { ContainerCallback, type JsonValue } from "../mod.ts";
 *
 * class Sim extends ContainerCallback {
 *   override toArgs(param: JsonValue): string[] {
 *     const p = param as { size: number };
 *     return ["/opt/sim", "--size", String(p.size)];
 *   }
 * }
 * console.log(new Sim("sim:1.0", []).toArgs({ size: 8 }));
 * ```
 */
export class ContainerCallback implements Callback {
  /** The image to run, as the runtime names it. */
  readonly image: string;
  /** The in-container command and its arguments, before the param is added. */
  readonly command: readonly string[];
  /** The runtime's command-line dialect. */
  readonly runtime: ContainerRuntime;
  #program: string;
  #globals: readonly string[];
  #runOptions: readonly string[];
  #shell: boolean;
  #graceMs: number;
  #resultsDir: string | undefined;
  #slots: SlotPlan | undefined;

  /**
   * A callback running `command` in a new container of `image` per param.
   *
   * @param image the image, e.g. `docker.io/library/alpine:3` or `sim.sif`
   * @param command the in-container program and arguments, with placeholders
   *   if any; empty to append the param to the image's own command
   * @param options runtime, its options, shell and kill grace
   */
  constructor(
    image: string,
    command: readonly string[],
    options: ContainerCallbackOptions = {},
  ) {
    this.image = image;
    this.command = command;
    this.runtime = options.runtime ?? "podman";
    this.#program = options.runtimeCommand ?? this.runtime;
    this.#globals = options.runtimeOptions ?? [];
    this.#runOptions = options.runOptions ?? [];
    this.#shell = options.shell ?? false;
    this.#graceMs = options.graceMs ?? 5000;
    this.#resultsDir = options.resultsDir;
    this.#slots = options.slots;
  }

  /**
   * The argv to run inside the container for `param`, after the image. An
   * empty command appends the param's words, which replace the image's
   * default command.
   *
   * @param param the param
   * @param slot the slot it runs in, for `{%}`
   * @throws {TypeError} when a placeholder names a field the param lacks
   */
  toArgs(param: JsonValue, slot = 1): string[] {
    return buildArgv(this.command, param, this.#shell, slot);
  }

  // The runtime's options giving a container its slot's GPUs and CPUs.
  #resourceOptions(resources: SlotResources): string[] {
    const options: string[] = [];
    const { devices } = resources;
    const amd = this.#slots?.vendor === "amd";
    if (this.runtime === "apptainer" || this.runtime === "singularity") {
      if (devices.length > 0) options.push(amd ? "--rocm" : "--nv");
      return options;
    }
    if (devices.length > 0) {
      if (this.runtime === "docker" && !amd) {
        // The value is read as CSV: quotes keep the commas in one field.
        options.push("--gpus", `"device=${devices.join(",")}"`);
      } else {
        const kind = amd ? "amd.com/gpu" : "nvidia.com/gpu";
        for (const id of devices) options.push("--device", `${kind}=${id}`);
      }
    }
    if (resources.cpus !== undefined) {
      options.push("--cpuset-cpus", resources.cpus);
    }
    return options;
  }

  /**
   * The container's name for `param` in `task`: unique per minion, param
   * and attempt, made of the characters every runtime accepts.
   */
  containerName(param: JsonValue, task: ContainerTask): string {
    return `minion-${sanitize(task.minionId)}-${task.seq}-${task.attempt}-${
      shortHash(canonicalJson(param))
    }`;
  }

  /**
   * The runtime invocation that runs `param`. A param over 64 KiB is not
   * put in `MINION_PARAM` (the runtime could not even start): the file
   * `paramFile` holding it is mounted read-only at
   * {@linkcode CONTAINER_PARAM_FILE}, named by `MINION_PARAM_FILE`.
   *
   * @param param the param to run
   * @param task the minion, attempt and sequence number it runs under
   * @param paramFile the file holding a big param (`core/param_env.ts`)
   * @throws {TypeError} when a placeholder names a field the param lacks
   */
  runCommand(
    param: JsonValue,
    task: ContainerTask,
    paramFile?: string,
  ): ContainerCommand {
    const variables: [string, string][] = [
      paramFile === undefined
        ? ["MINION_PARAM", JSON.stringify(param)]
        : ["MINION_PARAM_FILE", CONTAINER_PARAM_FILE],
      ["MINION_ID", task.minionId],
      ["MINION_ATTEMPT", String(task.attempt)],
    ];
    if (task.slot !== undefined) {
      variables.push(["MINION_SLOT", String(task.slot)]);
    }
    const resources = task.slot === undefined
      ? undefined
      : this.#slots?.slot(task.slot);
    const own = resources ? this.#resourceOptions(resources) : [];
    const mount = paramFile === undefined ? [] : [
      this.runtime === "apptainer" || this.runtime === "singularity"
        ? "--bind"
        : "-v",
      `${paramFile}:${CONTAINER_PARAM_FILE}:ro`,
    ];
    const inside = this.toArgs(param, task.slot);
    if (this.runtime === "apptainer" || this.runtime === "singularity") {
      // Apptainer shows the container every GPU: the node's numbering holds.
      variables.push(...Object.entries(resources?.env ?? {}));
      // `--env` splits its value at commas, which JSON params hold: the
      // runtime's documented prefix passes values whole, even with
      // `--cleanenv`.
      const prefix = this.runtime === "apptainer"
        ? "APPTAINERENV_"
        : "SINGULARITYENV_";
      // Without a command, the param goes to the image's runscript, as it
      // replaces an OCI image's default command with podman or docker.
      const subcommand = this.command.length === 0 && !this.#shell
        ? "run"
        : "exec";
      // Apptainer's processes descend from its client: binding it binds them.
      const bound = resources?.cpus === undefined
        ? [this.#program]
        : [this.#slots!.taskset!, "-c", resources.cpus, this.#program];
      return {
        program: bound[0]!,
        args: [
          ...bound.slice(1),
          ...this.#globals,
          subcommand,
          "--cleanenv",
          ...own,
          ...mount,
          ...this.#runOptions,
          this.image,
          ...inside,
        ],
        env: Object.fromEntries(
          variables.map(([name, value]) => [`${prefix}${name}`, value]),
        ),
      };
    }
    const name = this.containerName(param, task);
    variables.push(...Object.entries(resources?.isolatedEnv ?? {}));
    return {
      program: this.#program,
      args: [
        ...this.#globals,
        "run",
        "--rm",
        "--name",
        name,
        "--label",
        `${MINION_LABEL}=${task.minionId}`,
        ...variables.flatMap(([key, value]) => ["-e", `${key}=${value}`]),
        ...own,
        ...mount,
        ...this.#runOptions,
        this.image,
        ...inside,
      ],
      env: {},
      name,
    };
  }

  /** The runtime command line for `param`, quoted so a shell would read it back. */
  describe(param: JsonValue, slot?: number): string {
    const { program, args, env } = this.runCommand(param, {
      minionId: "dry-run",
      seq: 0,
      attempt: 1,
      ...(slot === undefined ? {} : { slot }),
    }, isBigParam(param) ? "PARAM_FILE" : undefined);
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return formatArgv([...assignments, program, ...args]);
  }

  /**
   * Runs the container for `param` and resolves when it exits 0.
   *
   * Needs `--allow-run` (the runtime) and `--allow-env`.
   *
   * @throws {TaskFailure} when the container exits non-zero, is stopped or
   *   cannot start
   */
  async process(param: JsonValue, context: TaskContext): Promise<void> {
    context.signal.throwIfAborted();
    const handoff = await handOffParam(param);
    let run: ChildRun;
    let name: string | undefined;
    try {
      const command = this.runCommand(param, context, handoff.file);
      const { program, args, env } = command;
      name = command.name;
      const cli: RuntimeCli = {
        runtime: this.runtime,
        program: this.#program,
        globals: this.#globals,
        graceMs: this.#graceMs,
      };
      run = await runChild(param, context, {
        program,
        args,
        env,
        resultsDir: this.#resultsDir,
        logArgv: [program, ...args],
        shownProgram: program,
        whyNotStarted: async (error) =>
          error instanceof Deno.errors.NotFound
            ? "no such program; install the runtime or set MINION_CONTAINER_RUNTIME"
            : await spawnFailureReason(
              [program, ...args],
              error,
              () => ({ ...Deno.env.toObject(), ...env }),
            ),
        stop: (child, exited) =>
          command.name === undefined
            ? terminateTree(child.pid, this.#graceMs)
            : stopContainer(cli, command.name, child.pid, exited),
        // On a second signal the minion exits at once: remove the container
        // synchronously, since nothing will be left to do it afterwards.
        onKill: command.name === undefined
          ? undefined
          : () => removeNow(cli, command.name!),
      });
    } finally {
      await handoff.dispose();
    }
    const { status, output } = run;
    if (status.success) return;
    const what = `container '${this.image}'${name ? ` (${name})` : ""}`;
    if (status.signal) {
      throw new TaskFailure(
        `the ${this.runtime} client of ${what} was killed by ${status.signal}`,
        {
          signal: status.signal,
          exitCode: status.code,
          output,
        },
      );
    }
    const hint = status.code === 125 && name !== undefined
      ? ` (${this.runtime} could not run it: see its message above)`
      : "";
    throw new TaskFailure(`${what} exited with code ${status.code}${hint}`, {
      exitCode: status.code,
      output,
    });
  }
}
