/**
 * Callback `process`: runs the user's program once per param, without a
 * shell unless asked for; a timeout or a shutdown stops the program and
 * every process it started (see `core/children.ts`).
 *
 * The program contract: argv as built by `core/template.ts`; standard input
 * is empty; `MINION_PARAM` (JSON; over 64 KiB, `MINION_PARAM_FILE` names a
 * file holding it instead, see `core/param_env.ts`), `MINION_ID`,
 * `MINION_ATTEMPT` and `MINION_SLOT` are in its environment, with its slot's
 * GPU and thread variables when resources are split (`core/slots.ts`), and
 * it runs under `taskset` on its slot's CPUs when those are; exit 0 is
 * success; standard output and error pass through to the minion's, or go to
 * files with a results directory.
 *
 * @module
 */

import type { Callback, JsonValue, TaskContext } from "../core/contracts.ts";
import { terminateTree } from "../core/children.ts";
import { TaskFailure } from "../core/errors.ts";
import type { SlotPlan } from "../core/slots.ts";
import { buildArgv, formatArgv } from "../core/template.ts";
import { handOffParam, programEnv } from "../core/param_env.ts";
import { spawnFailureReason } from "../core/spawn_error.ts";
import { type ChildRun, runChild } from "./_spawn.ts";

/** How a {@linkcode ProcessCallback} runs programs. */
export interface ProcessCallbackOptions {
  /** Run the command through `sh -c`, quoting every param value. @default {false} */
  shell?: boolean;
  /**
   * Keep each param's standard output and error in files under this
   * directory, and a job log (`joblog.tsv`), instead of passing them through.
   * @default {undefined}
   */
  resultsDir?: string;
  /** Time between SIGTERM and SIGKILL when a run must stop, in ms. @default {5000} */
  graceMs?: number;
  /**
   * Each slot's own GPUs and CPUs, from `planSlots` (`core/slots.ts`).
   * @default {undefined}
   */
  slots?: SlotPlan;
}

/**
 * Runs a program per param. Subclass it and override {@linkcode toCmd} to
 * build the command line yourself.
 *
 * @example Append each param to `echo`
 * ```ts
 * import { ProcessCallback } from "../mod.ts";
 *
 * const callback = new ProcessCallback(["echo", "hello"]);
 * console.log(callback.toCmd("--beta 'x y'")); // ["echo", "hello", "--beta", "x y"]
 * ```
 *
 * @example Build the command from an object param
 * ```ts
 * import { ProcessCallback, type JsonValue } from "../mod.ts";
 *
 * class Sim extends ProcessCallback {
 *   override toCmd(param: JsonValue): string[] {
 *     const p = param as { arg1: string; arg2: string };
 *     return ["a.out", "--arg1", p.arg1, p.arg2];
 *   }
 * }
 * console.log(new Sim().toCmd({ arg1: "1", arg2: "x" }));
 * ```
 */
export class ProcessCallback implements Callback {
  /** The command and its arguments, before the param is added. */
  readonly command: readonly string[];
  #shell: boolean;
  #resultsDir: string | undefined;
  #graceMs: number;
  #slots: SlotPlan | undefined;

  /**
   * Makes a callback that runs `command` per param.
   *
   * @param command the program and its fixed arguments, with placeholders
   *   if any; a subclass that builds the whole command in `toCmd` may leave
   *   it out
   * @param options shell, results directory and kill grace
   */
  constructor(
    command: readonly string[] = [],
    options: ProcessCallbackOptions = {},
  ) {
    this.command = command;
    this.#shell = options.shell ?? false;
    this.#resultsDir = options.resultsDir;
    this.#graceMs = options.graceMs ?? 5000;
    this.#slots = options.slots;
  }

  /**
   * The argv to run for `param`: program first, never through a shell unless
   * the callback was made with `shell: true`.
   *
   * @param param the param
   * @param slot the slot it runs in, for `{%}`
   * @throws {TypeError} when a placeholder names a field the param lacks
   */
  toCmd(param: JsonValue, slot = 1): string[] {
    return buildArgv(this.command, param, this.#shell, slot);
  }

  // The argv as spawned, and the variables the slot adds.
  #launch(argv: string[], slot: number): [string[], Record<string, string>] {
    const resources = this.#slots?.slot(slot);
    if (resources === undefined) return [argv, {}];
    const bound = resources.cpus === undefined
      ? argv
      : [this.#slots!.taskset!, "-c", resources.cpus, ...argv];
    return [bound, resources.env];
  }

  /**
   * The command line for `param`, quoted so a shell would read it back,
   * with the variables and `taskset` its slot adds.
   */
  describe(param: JsonValue, slot = 1): string {
    const [argv, env] = this.#launch(this.toCmd(param, slot), slot);
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    return formatArgv([...assignments, ...argv]);
  }

  /**
   * Runs the program for `param` and resolves when it exits 0.
   *
   * Needs `--allow-run` (and `--allow-write` for a results directory).
   *
   * @throws {TaskFailure} when it exits non-zero, is killed or cannot start
   */
  async process(param: JsonValue, context: TaskContext): Promise<void> {
    const argv = this.toCmd(param, context.slot);
    const [program] = argv;
    if (program === undefined) {
      throw new TaskFailure("the command is empty: give a program to run");
    }
    const [bound, slotEnv] = this.#launch(argv, context.slot);
    const [spawned, ...args] = bound as [string, ...string[]];
    const handoff = await handOffParam(param);
    const variables = {
      MINION_ID: context.minionId,
      MINION_ATTEMPT: String(context.attempt),
      ...slotEnv,
      MINION_SLOT: String(context.slot),
    };
    let run: ChildRun;
    try {
      run = await runChild(param, context, {
        program: spawned,
        args,
        ...programEnv(handoff, variables),
        resultsDir: this.#resultsDir,
        logArgv: argv,
        shownProgram: program,
        // Under taskset, what failed to start is still the user's program.
        whyNotStarted: (error) =>
          spawnFailureReason(
            spawned === program ? bound : bound.slice(bound.indexOf(program)),
            error,
            () => ({
              ...Deno.env.toObject(),
              ...handoff.variables,
              ...variables,
            }),
          ),
        stop: (child) => terminateTree(child.pid, this.#graceMs),
      });
    } finally {
      await handoff.dispose();
    }
    const { status, output } = run;
    if (status.success) return;
    if (status.signal) {
      throw new TaskFailure(`'${program}' was killed by ${status.signal}`, {
        signal: status.signal,
        exitCode: status.code,
        output,
      });
    }
    throw new TaskFailure(`'${program}' exited with code ${status.code}`, {
      exitCode: status.code,
      output,
    });
  }
}
