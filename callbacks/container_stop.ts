/**
 * Stopping a container the container callback started, through the
 * runtime's command line: `stop` then `rm -f` by name until the `run`
 * client has exited, and a synchronous removal for when the minion is
 * killed at once.
 *
 * @module
 */

import { terminateTree } from "../core/children.ts";
import { longTimeoutSignal } from "../core/timer.ts";
import type { ContainerRuntime } from "./container_options.ts";

/** The runtime's command line, as a callback was set up to call it. */
export interface RuntimeCli {
  /** The runtime's dialect. */
  runtime: ContainerRuntime;
  /** Its executable. */
  program: string;
  /** Its global options, put before every subcommand. */
  globals: readonly string[];
  /** Time between SIGTERM and SIGKILL when a run must stop, in ms. */
  graceMs: number;
}

// Runs a management command of the runtime (`stop`, `rm`); its failures
// are expected (the container may already be gone) and its output is
// noise next to the task's.
async function manage(
  cli: RuntimeCli,
  args: string[],
  timeoutMs: number,
): Promise<void> {
  try {
    await new Deno.Command(cli.program, {
      args: [...cli.globals, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: longTimeoutSignal(timeoutMs),
    }).output();
  } catch {
    // Timed out or could not start: the loop below tries again.
  }
}

// `rm -f` of a running container: podman stops it first, waiting its
// stop timeout (10 s by default) unless told; docker kills it at once.
function removeArgs(
  cli: RuntimeCli,
  name: string,
  graceSeconds: number,
): string[] {
  return cli.runtime === "podman"
    ? ["rm", "-f", "-t", String(graceSeconds), name]
    : ["rm", "-f", name];
}

/**
 * Stops then removes the container `name` until its `run` client (`pid`)
 * has exited: a stop that came while the client was still creating the
 * container finds nothing, so removal is repeated until the client is gone.
 * The client itself is killed if the runtime does not let it go. Once it
 * has, the container is removed once more: with docker, `--rm` is the
 * daemon's job and may lag the client.
 */
export async function stopContainer(
  cli: RuntimeCli,
  name: string,
  pid: number,
  exited: Promise<unknown>,
): Promise<void> {
  const graceSeconds = Math.max(0, Math.ceil(cli.graceMs / 1000));
  const timeoutMs = cli.graceMs + 30_000;
  let gone = false;
  const done = exited.then(() => gone = true);
  await manage(cli, ["stop", "-t", String(graceSeconds), name], timeoutMs);
  const deadline = Date.now() + timeoutMs;
  while (!gone) {
    await manage(cli, removeArgs(cli, name, graceSeconds), timeoutMs);
    if (Date.now() > deadline) terminateTree(pid, 0);
    await Promise.race([done, new Promise((r) => setTimeout(r, 1000))]);
  }
  await manage(cli, removeArgs(cli, name, 0), timeoutMs);
}

/**
 * Removes the container `name` at once and synchronously: for a minion
 * killed by a second signal, which exits right after.
 */
export function removeNow(cli: RuntimeCli, name: string): void {
  new Deno.Command(cli.program, {
    args: [...cli.globals, ...removeArgs(cli, name, 0)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).outputSync();
}
