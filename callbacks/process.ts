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
import { terminateTree, track, untrack } from "../core/children.ts";
import { TaskFailure } from "../core/errors.ts";
import { appendJoblog, claimRunDir, createOutput } from "../core/results.ts";
import type { SlotPlan } from "../core/slots.ts";
import { buildArgv, formatArgv } from "../core/template.ts";
import {
  handOffParam,
  type ParamHandoff,
  programEnv,
} from "../core/param_env.ts";
import { spawnFailureReason } from "../core/spawn_error.ts";

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

  // Starts the program, stops it when the task is aborted, and resolves to
  // how it ended.
  async #spawn(
    argv: readonly string[],
    program: string,
    slotEnv: Record<string, string>,
    handoff: ParamHandoff,
    context: TaskContext,
    results: string | undefined,
    dir: string | undefined,
  ): Promise<Deno.CommandStatus> {
    const [spawned, ...args] = argv as [string, ...string[]];
    const variables = {
      MINION_ID: context.minionId,
      MINION_ATTEMPT: String(context.attempt),
      ...slotEnv,
    };
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spawned, {
        args,
        ...programEnv(handoff, variables),
        // The minion's own standard input may be the queue itself.
        stdin: "null",
        stdout: results === undefined ? "inherit" : "piped",
        stderr: results === undefined ? "inherit" : "piped",
      }).spawn();
    } catch (error) {
      // Under taskset, what failed to start is still the user's program.
      const why = await spawnFailureReason(
        spawned === program ? argv : argv.slice(argv.indexOf(program)),
        error,
        () => ({
          ...Deno.env.toObject(),
          ...handoff.variables,
          ...variables,
        }),
      );
      throw new TaskFailure(`Cannot run '${program}': ${why}`, {
        cause: error,
      });
    }
    track(child.pid);

    const stop = () => terminateTree(child.pid, this.#graceMs);
    if (context.signal.aborted) stop();
    context.signal.addEventListener("abort", stop, { once: true });
    try {
      const copies = results === undefined ? [] : [
        child.stdout.pipeTo(
          (await createOutput(`${results}/${dir}/stdout`)).writable,
        ),
        child.stderr.pipeTo(
          (await createOutput(`${results}/${dir}/stderr`)).writable,
        ),
      ];
      const status = await child.status;
      await Promise.all(copies);
      return status;
    } finally {
      context.signal.removeEventListener("abort", stop);
      untrack(child.pid);
    }
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
    const [[spawned, ...args], slotEnv] = this.#launch(argv, context.slot);
    const results = this.#resultsDir;
    const dir = results === undefined
      ? undefined
      : await claimRunDir(results, param);
    const started = new Date();
    const handoff = await handOffParam(param);
    let status: Deno.CommandStatus;
    try {
      status = await this.#spawn(
        [spawned!, ...args],
        program,
        { ...slotEnv, MINION_SLOT: String(context.slot) },
        handoff,
        context,
        results,
        dir,
      );
    } finally {
      await handoff.dispose();
    }
    if (results !== undefined) {
      await appendJoblog(results, {
        seq: context.seq,
        minionId: context.minionId,
        started,
        attempt: context.attempt,
        status,
        output: dir!,
        argv,
      });
    }
    if (status.success) return;
    const output = results === undefined ? "inherit" : `${results}/${dir}`;
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
