/**
 * Reads `.env` the way the original tool did: from the working directory,
 * never overriding a variable the environment already has. Parsing is done
 * by the `dotenv` package; we only add the check it lacks, since it skips
 * malformed lines silently and a typo would then go unnoticed.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import { explain } from "../core/denied.ts";
import type { Env } from "../core/contracts.ts";
import { PROJECT_FILE, readProject } from "./project.ts";

const ASSIGNMENT = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*(.*)$/;

/**
 * Throws on the first line that is neither blank, a comment, an assignment,
 * nor the continuation of a quoted multi-line value.
 */
function validate(text: string, path: string): void {
  let open: string | undefined; // quote of a multi-line value still open
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (open !== undefined) {
      if (line.includes(open)) open = undefined;
      continue;
    }
    if (/^\s*(#.*)?$/.test(line)) continue;
    const match = ASSIGNMENT.exec(line);
    if (!match) {
      throw new ConfigError(
        path,
        `Cannot read ${path}: line ${index + 1} ${
          JSON.stringify(line)
        } is not NAME=value; fix or remove it (comments start with #)`,
      );
    }
    const value = match[1]!;
    const quote = value[0];
    if (
      (quote === '"' || quote === "'" || quote === "`") &&
      !value.slice(1).includes(quote)
    ) {
      open = quote;
    }
  }
  if (open !== undefined) {
    throw new ConfigError(
      path,
      `Cannot read ${path}: a value opened with ${open} is never closed; add the closing ${open}`,
    );
  }
}

/**
 * The variables of the `.env` file at `path`, or none when it does not exist.
 *
 * @throws {ConfigError} when the file is unreadable or has a malformed line
 */
export async function readDotEnv(
  path = ".env",
): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ConfigError(
      path,
      `Cannot read ${path}: ${explain(error, "make it readable or remove it")}`,
      { cause: error },
    );
  }
  validate(text, path);
  // Loaded only when there is a `.env`: the parser and the Node modules
  // it needs take a minion about as long to load as Deno takes to start.
  const { parse } = await import("npm:dotenv@18.0.10");
  return parse(text);
}

/**
 * The environment a minion runs with: the process environment, over `.env`,
 * over the project file `.minionize.yml` (its keys as the variables they
 * stand for), all from the working directory. Flags go on top of this.
 *
 * Needs `--allow-env` and `--allow-read` for `.env` and `.minionize.yml`.
 *
 * @throws {ConfigError} when `.env` or `.minionize.yml` is malformed
 */
export async function loadEnv(
  path = ".env",
  projectPath: string = PROJECT_FILE,
): Promise<Env> {
  const project = await readProject(projectPath);
  return {
    ...project?.variables,
    ...(await readDotEnv(path)),
    ...Deno.env.toObject(),
  };
}
