/**
 * `minionize permissions [OPTIONS] [PROGRAM [ARGS...]]`: prints the
 * `deno run` line that runs this minion with the narrowest permissions its
 * settings need, in place of `-A`.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { fileURLToPath } from "node:url";
import { parseArgs } from "./_args.ts";
import { readSettings } from "../runner/config.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { findExecutable } from "../core/path.ts";
import { neededPermissions, permissionFlags } from "./_permissions.ts";
import { readProject } from "../runner/project.ts";
import { formatArgv } from "../core/template.ts";
import { RUN_OPTIONS } from "./run.ts";

/** The help text of the permissions command. */
export function permissionsHelp(): string {
  return `Usage: minionize permissions [OPTIONS] [--] [PROGRAM [ARGS...]]

Prints the deno run line that runs 'minionize OPTIONS PROGRAM ARGS...' with
the narrowest permissions the settings need, instead of -A: every variable
(the minion passes its environment on), the host name, .env and
.minionize.yml, the program, the engine's server or files, the reporter's
and results' directories and the stats address. Settings are read as the
minion reads them (options, environment, .env, .minionize.yml): give the
same ones. What the settings cannot tell (brokers a cluster redirects
clients to, ...) and what Deno allows only under -A (reading /proc, so a
stopped program's children are not found) are said on stderr.

Options: those of minionize itself (see minionize --help).`;
}

/** `deno` when it is this Deno, else this Deno's path. */
async function denoCommand(): Promise<string> {
  const self = Deno.execPath();
  try {
    const found = await findExecutable("deno", Deno.env.get("PATH"));
    if (found && await Deno.realPath(found) === await Deno.realPath(self)) {
      return "deno";
    }
  } catch {
    // PATH unreadable here: name this Deno by its path
  }
  return self;
}

/** What `deno run` runs: this file, as a path when it is one. */
function entry(): string {
  const main = Deno.mainModule;
  return main.startsWith("file:") ? fileURLToPath(main) : main;
}

/**
 * Prints the `deno run` line for `args` (the options and program of the
 * minion) and resolves to the exit status.
 *
 * @throws {ConfigError} on bad options or settings, as the minion would
 */
export async function permissions(args: readonly string[]): Promise<number> {
  const { variables, flags, rest } = parseArgs(args, RUN_OPTIONS);
  if (flags.has("--help")) {
    console.log(permissionsHelp());
    return 0;
  }
  const env = { ...(await loadEnv()), ...variables };
  const settings = readSettings(env);
  const command = rest.length > 0 ? rest : (await readProject())?.command ?? [];
  const needs = await neededPermissions({ settings, env, command });
  for (const note of new Set(needs.notes)) {
    console.error(`minionize: note: ${note}`);
  }
  console.log(
    formatArgv([
      await denoCommand(),
      "run",
      ...permissionFlags(needs),
      entry(),
      ...args,
    ]),
  );
  return 0;
}
