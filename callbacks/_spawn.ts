/**
 * One run of a child for a task, shared by the callbacks that run programs
 * (`process`, `container`): claim the param's outputs folder when there is
 * a results directory, start the child with an empty standard input, track
 * it so a second signal kills it, stop it when the task is aborted, copy
 * its standard output and error to files (or let them pass through), and
 * write the job log line once it has exited.
 *
 * What differs between callbacks is passed in: how a child is stopped (a
 * process tree is signalled, a container is stopped by name), what a
 * second signal must clean up, and why a child could not start.
 *
 * @module
 */

import type { JsonValue, TaskContext } from "../core/contracts.ts";
import { track, trackCleanup, untrack } from "../core/children.ts";
import { TaskFailure } from "../core/errors.ts";
import { appendJoblog, claimRunDir, createOutput } from "../core/results.ts";

/** What {@linkcode runChild} starts and how it treats it. */
export interface ChildRunOptions {
  /** The executable as spawned (maybe `taskset`, or a container runtime). */
  program: string;
  /** Its arguments. */
  args: readonly string[];
  /** Variables added to (or, with `clearEnv`, making) its environment. */
  env: Record<string, string>;
  /** Start from `env` alone instead of the minion's environment. @default {false} */
  clearEnv?: true;
  /**
   * The results directory: outputs go to a folder of the param's under it,
   * and a line to its job log. Without it they pass through.
   * @default {undefined}
   */
  resultsDir?: string | undefined;
  /** What the job log says ran. */
  logArgv: readonly string[];
  /** The program named in "Cannot run '...'" when the child cannot start. */
  shownProgram: string;
  /** Why `error`, thrown when spawning, kept the child from starting. */
  whyNotStarted(error: unknown): Promise<string>;
  /**
   * Stops the child when the task is aborted; a promise it returns is
   * awaited before the run counts as over.
   */
  stop(
    child: Deno.ChildProcess,
    exited: Promise<unknown>,
  ): Promise<void> | void;
  /**
   * A synchronous cleanup for when the minion is killed at once (a second
   * signal), registered while the child runs.
   * @default {undefined}
   */
  onKill?: (() => void) | undefined;
}

/** How a child run ended. */
export interface ChildRun {
  /** The child's exit status. */
  status: Deno.CommandStatus;
  /** Where its outputs went: `inherit`, or their folder under the results directory. */
  output: string;
}

/**
 * Runs one child for `param` in the task `context` and resolves to how it
 * ended, whatever its exit code.
 *
 * Needs `--allow-run` (and `--allow-write` for a results directory).
 *
 * @param param the param, which names the outputs' folder
 * @param context the task: its signal, minion, sequence number and attempt
 * @param options the child and the callback's ways with it
 * @throws {TaskFailure} when the child cannot start
 */
export async function runChild(
  param: JsonValue,
  context: TaskContext,
  options: ChildRunOptions,
): Promise<ChildRun> {
  const results = options.resultsDir;
  const dir = results === undefined
    ? undefined
    : await claimRunDir(results, param);
  const started = new Date();
  const piped = results === undefined ? "inherit" : "piped";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.program, {
      args: [...options.args],
      env: options.env,
      ...(options.clearEnv ? { clearEnv: true } : {}),
      // The minion's own standard input may be the queue itself.
      stdin: "null",
      stdout: piped,
      stderr: piped,
    }).spawn();
  } catch (error) {
    const why = await options.whyNotStarted(error);
    throw new TaskFailure(`Cannot run '${options.shownProgram}': ${why}`, {
      cause: error,
    });
  }
  track(child.pid);
  const forget = options.onKill === undefined
    ? () => {}
    : trackCleanup(options.onKill);

  let stopping: Promise<void> | void = undefined;
  const exited = child.status;
  const stop = () => {
    stopping = options.stop(child, exited);
  };
  context.signal.addEventListener("abort", stop, { once: true });
  // It may have aborted while the outputs' folder was being made.
  if (context.signal.aborted) stop();

  let status: Deno.CommandStatus;
  try {
    const copies = results === undefined ? [] : [
      child.stdout.pipeTo(
        (await createOutput(`${results}/${dir}/stdout`)).writable,
      ),
      child.stderr.pipeTo(
        (await createOutput(`${results}/${dir}/stderr`)).writable,
      ),
    ];
    status = await exited;
    await Promise.all(copies);
    await stopping;
  } finally {
    context.signal.removeEventListener("abort", stop);
    untrack(child.pid);
    forget();
  }
  if (results === undefined) return { status, output: "inherit" };
  await appendJoblog(results, {
    seq: context.seq,
    minionId: context.minionId,
    started,
    attempt: context.attempt,
    status,
    output: dir!,
    argv: options.logArgv,
  });
  return { status, output: `${results}/${dir}` };
}
