/**
 * The `minionize` command. Errors print as one line, `minionize: error: ...`
 * (`--debug` adds the stack), and bad settings exit 2 before anything is
 * taken from the queue.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { ConfigError } from "./core/errors.ts";
import { VERSION } from "./core/version.ts";

/** Subcommands by name, loaded when used. */
const COMMANDS: Record<
  string,
  () => Promise<(args: string[]) => Promise<number>>
> = {
  status: async () => (await import("./commands/status.ts")).status,
  sweep: async () => (await import("./commands/sweep.ts")).sweep,
  publish: async () => (await import("./commands/publish.ts")).publish,
  init: async () => (await import("./commands/init.ts")).init,
  top: async () => (await import("./commands/top.ts")).top,
  submit: async () => (await import("./commands/submit.ts")).submit,
  permissions: async () =>
    (await import("./commands/permissions.ts")).permissions,
};

/**
 * A subcommand's options without `--debug`, which every command takes (it
 * is read above); words after `--` are left alone.
 */
function withoutDebug(args: string[]): string[] {
  const end = args.indexOf("--");
  const options = end < 0 ? args : args.slice(0, end);
  const after = end < 0 ? [] : args.slice(end);
  return [...options.filter((arg) => arg !== "--debug"), ...after];
}

/**
 * `text` on one line: a value quoted in a message may hold a line break or
 * another control character (`MINION_CONCURRENCY=$'2\n3'`), shown escaped.
 */
function oneLine(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (c) => c === "\x7f" ? "\\x7f" : JSON.stringify(c).slice(1, -1),
  );
}

/**
 * Runs the command line `args` and resolves to the exit status.
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 * Deno.exit(await main(["echo", "hello"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const debug = args.includes("--debug");
  try {
    const [first, ...rest] = args;
    if (first === "--version" || first === "-V") {
      console.log(`minionize ${VERSION}`);
      return 0;
    }
    const command = first === undefined ? undefined : COMMANDS[first];
    if (command) return await (await command())(withoutDebug(rest));
    const { run } = await import("./commands/run.ts");
    return await run(args);
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    console.error(`minionize: error: ${oneLine(text)}`);
    if (debug && error instanceof Error && error.stack) {
      console.error(error.stack);
    }
    return error instanceof ConfigError ? 2 : 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
