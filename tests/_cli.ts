/**
 * Runs the `minionize` command as a user would, for end-to-end tests.
 *
 * @module
 */

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** The CLI entry point. */
export const CLI = `${ROOT}cli.ts`;

/** What a finished run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
}

/** The command that runs the CLI with `args`. */
export function cliCommand(
  args: string[],
  options: CliOptions = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...args],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs the CLI to completion. */
export async function runCli(
  args: string[],
  options: CliOptions = {},
): Promise<CliResult> {
  const child = cliCommand(args, options).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    } catch (error) {
      // A CLI that fails on a bad setting may exit before reading its
      // input: what it said is the test's to check, not the closed pipe.
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    }
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A fresh temporary directory, removed when the returned disposer runs. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "minionize-test-" });
}

/** Resolves once `check` holds, polling every 20 ms; throws after `ms`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
