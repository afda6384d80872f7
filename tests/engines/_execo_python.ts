/**
 * Helpers for tests that run real Python minionize 0.3.4 (execo 2.8.2)
 * minions and ours on one sweep directory: a sweep written by Python
 * execo, a task that appends who ran which param to a file, and minions of
 * both kinds, each in its own process group (so that `kill -9` takes its
 * running task with it).
 */

import { assertEquals } from "../_assert.ts";
import { available, CACHE, ROOT } from "../services/harness.ts";

export const VENV = `${CACHE}/venv/bin`;
export const PYTHON = `${VENV}/python`;
export const CLI = `${ROOT}cli.ts`;

/** Whether the venv of `tests/services/install/execo.sh` is there. */
export const hasPython = available(
  `${VENV}/minionize`,
  "bash tests/services/install.sh execo",
);

export const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs Python code in `cwd`; its standard output. */
export async function py(cwd: string, code: string): Promise<string> {
  const result = await new Deno.Command(PYTHON, { args: ["-c", code], cwd })
    .output();
  assertEquals(result.code, 0, text(result.stderr));
  return text(result.stdout);
}

/** A directory holding a sweep of `p0`..`p{count-1}` written by Python execo. */
export async function pythonSweep(
  count: number,
  prefix = "execo-py-",
): Promise<string> {
  const cwd = await Deno.makeTempDir({ prefix });
  await py(
    cwd,
    `from execo_engine.sweep import ParamSweeper; ParamSweeper('sweeps', sweeps=[f'p{i}' for i in range(${count})], save_sweeps=True)`,
  );
  // The task: wait, then append "FLEET PARAM" to runs.
  await Deno.writeTextFile(
    `${cwd}/task.sh`,
    '#!/bin/sh\nsleep "${TASK_SLEEP:-0.25}"\necho "$1 $2" >> "$RUNS"\n',
  );
  await Deno.chmod(`${cwd}/task.sh`, 0o755);
  return cwd;
}

/** A minion process of either kind. */
export interface Minion {
  /** `py` or `ours`, and a number. */
  name: string;
  child: Deno.ChildProcess;
  output: Promise<Deno.CommandOutput>;
}

/**
 * Starts a minion in `cwd` on `sweeps`, running `task.sh FLEET PARAM`, in
 * a process group of its own (`setsid`).
 */
export function start(
  cwd: string,
  kind: "py" | "ours",
  name: string,
  env: Record<string, string> = {},
): Minion {
  const command = kind === "py"
    ? [`${VENV}/minionize`, `${cwd}/task.sh`, "py"]
    : [Deno.execPath(), "run", "-A", CLI, `${cwd}/task.sh`, "ours"];
  const child = new Deno.Command("setsid", {
    args: command,
    cwd,
    env: {
      MINION_ENGINE: "execo",
      EXECO_PERSISTENCE_DIR: "sweeps",
      RUNS: `${cwd}/runs`,
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return { name, child, output: child.output() };
}

/** Kills a minion's whole process group with SIGKILL. */
export function killGroup(minion: Minion): void {
  try {
    Deno.kill(-minion.child.pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** The lines of `runs`: `FLEET PARAM`. */
export async function runs(cwd: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(`${cwd}/runs`)).split("\n").filter(
      Boolean,
    );
  } catch {
    return [];
  }
}

/** Runs per param, and runs per fleet. */
export function tally(lines: string[]): {
  byParam: Map<string, number>;
  byFleet: Record<string, number>;
} {
  const byParam = new Map<string, number>();
  const byFleet: Record<string, number> = {};
  for (const line of lines) {
    const [fleet, param] = line.split(" ") as [string, string];
    byParam.set(param, (byParam.get(param) ?? 0) + 1);
    byFleet[fleet] = (byFleet[fleet] ?? 0) + 1;
  }
  return { byParam, byFleet };
}

/** Runs `minionize ARGS` in `cwd`. */
export async function cli(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd,
    env: { EXECO_PERSISTENCE_DIR: "sweeps", ...env },
    stdin: "null",
  }).output();
  return {
    code: result.code,
    stdout: text(result.stdout),
    stderr: text(result.stderr),
  };
}

/** What Python execo's ParamSweeper says of the sweep: done, in progress, remaining. */
export async function pythonView(
  cwd: string,
): Promise<{ done: number; inProgress: number; remaining: number }> {
  const out = await py(
    cwd,
    `from execo_engine.sweep import ParamSweeper
s = ParamSweeper('sweeps')
print(len(s.get_done()), len(s.get_inprogress()), len(s.get_remaining()))`,
  );
  const [done, inProgress, remaining] = out.trim().split(" ").map(Number) as [
    number,
    number,
    number,
  ];
  return { done, inProgress, remaining };
}

/** Every file of `dir`, byte for byte. */
export async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const bytes = await Deno.readFile(`${dir}/${entry.name}`);
    out[entry.name] = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
      .join("");
  }
  return out;
}
