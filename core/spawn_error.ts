/**
 * Why a program could not start, in words a user can act on: a missing
 * program, a script whose `#!` interpreter is missing (which the system
 * reports as "no such file" too), a command line over the system's limits.
 *
 * @module
 */

import { findExecutable } from "./path.ts";

const encoder = new TextEncoder();

/** Sizes for messages: `200.0 KiB`, `2.1 MiB`. */
export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The longest single argument or environment string Linux accepts, with its NUL. */
const MAX_ARG_STRLEN = 128 * 1024;

/**
 * What is wrong with the `#!` line of the script at `path`, or `undefined`
 * when it has none or its interpreter exists. Needs `--allow-read`.
 *
 * @param path an executable file
 * @param searchPath `PATH`, for `#!/usr/bin/env NAME`
 */
export async function shebangProblem(
  path: string,
  searchPath: string | undefined,
): Promise<string | undefined> {
  let head: string;
  try {
    using file = await Deno.open(path);
    const buffer = new Uint8Array(512);
    const count = await file.read(buffer) ?? 0;
    head = new TextDecoder().decode(buffer.subarray(0, count));
  } catch {
    return undefined;
  }
  if (!head.startsWith("#!")) return undefined;
  const line = head.slice(2).split("\n")[0]!;
  if (line.endsWith("\r")) {
    return `its #! line ends with a carriage return (Windows line endings); convert the file, e.g. sed -i 's/\\r$//' '${path}'`;
  }
  const [interpreter, first] = line.trim().split(/[ \t]+/);
  if (!interpreter) return "its #! line names no interpreter";
  if (await findExecutable(interpreter, "") === undefined) {
    return `its interpreter '${interpreter}' (from its #! line) does not exist or is not executable; fix the #! line`;
  }
  // `#!/usr/bin/env python3`: env itself is there, the program may not be.
  if (
    /(^|\/)env$/.test(interpreter) && first !== undefined &&
    !first.startsWith("-") &&
    await findExecutable(first, searchPath) === undefined
  ) {
    return `its #! line runs '${first}' through env, and '${first}' is not on PATH; install it or fix the #! line`;
  }
  return undefined;
}

/**
 * Why `Deno.Command` could not start `argv`: `error` turned into a sentence
 * naming the cause and the fix.
 *
 * @param argv the program and its arguments
 * @param error what spawning threw
 * @param env the environment the program was given, whole
 */
export async function spawnFailureReason(
  argv: readonly string[],
  error: unknown,
  env: () => Record<string, string>,
): Promise<string> {
  const program = argv[0] ?? "";
  if ((error as { code?: string }).code === "E2BIG") {
    return tooLongReason(argv, env());
  }
  if (error instanceof Deno.errors.NotFound) {
    const found = await findExecutable(program, env().PATH);
    const problem = found === undefined
      ? undefined
      : await shebangProblem(found, env().PATH);
    return problem ?? "no such program; check the name or PATH";
  }
  return (error as Error).message;
}

/** Which limit a command line too long for the system passed. */
function tooLongReason(
  argv: readonly string[],
  env: Record<string, string>,
): string {
  const sizes = argv.map((arg) => encoder.encode(arg).length + 1);
  const largest = sizes.reduce(
    (best, size, i) => size > sizes[best]! ? i : best,
    0,
  );
  const fix =
    "pass big values in files (a param over 64 KiB is given in MINION_PARAM_FILE)";
  if (sizes[largest]! > MAX_ARG_STRLEN) {
    return `argument ${largest} is ${
      formatBytes(sizes[largest]!)
    }, over the 128 KiB Linux allows for one argument; ${fix}`;
  }
  const total = sizes.reduce((a, b) => a + b, 0) +
    Object.entries(env).reduce(
      (sum, [k, v]) => sum + encoder.encode(`${k}=${v}`).length + 1,
      0,
    );
  return `its arguments and environment take ${
    formatBytes(total)
  }, over the system's limit (getconf ARG_MAX); ${fix}`;
}
