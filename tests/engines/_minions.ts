/**
 * Helpers for engine tests that run real minion processes: small shell
 * programs that log what they ran, and the CLI spawned on an engine.
 *
 * @module
 */

import { ROOT, waitUntil } from "../services/harness.ts";

/** A program that appends `MINION_PARAM MINION_ATTEMPT` to `log`, then runs `then`. */
export async function loggingProgram(
  dir: string,
  log: string,
  then = "exit 0",
): Promise<string> {
  const path = `${dir}/program-${crypto.randomUUID().slice(0, 8)}.sh`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho "$MINION_PARAM $MINION_ATTEMPT $$" >> '${log}'\n${then}\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** The lines of `path` (none when it does not exist yet). */
export async function linesOf(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

/** A minion process: the CLI run on `args` with `env` added. */
export interface MinionProcess {
  child: Deno.ChildProcess;
  /** Exit code and combined output, once it exited. */
  result(): Promise<{ code: number; output: string }>;
}

/** Spawns `deno run -A cli.ts ARGS` with `env` over the test's environment. */
export function spawnMinion(
  env: Record<string, string>,
  args: string[],
): MinionProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}cli.ts`, ...args],
    env,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  return {
    child,
    async result() {
      const { code, stdout, stderr } = await output;
      const text = new TextDecoder();
      return { code, output: text.decode(stdout) + text.decode(stderr) };
    },
  };
}

/**
 * A node lost mid-task: starts a minion on `env` whose program logs its
 * start and sleeps, waits until the task runs, then kills the minion and
 * the program with SIGKILL, leaving the param taken and never settled.
 */
export async function killMidTask(
  dir: string,
  env: Record<string, string>,
): Promise<void> {
  const log = `${dir}/kill.log`;
  const program = await loggingProgram(dir, log, "exec sleep 60");
  const minion = spawnMinion(env, [program]);
  await waitUntil(
    "the task",
    async () => (await linesOf(log)).length === 1,
    60_000,
  );
  minion.child.kill("SIGKILL");
  // The program outlives its minion (and holds its output open).
  Deno.kill(Number((await linesOf(log))[0]!.split(" ")[2]), "SIGKILL");
  await minion.result();
}
