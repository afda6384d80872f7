/**
 * The project file, `.minionize.yml`, read from the working directory: what
 * a user would otherwise type on every run (the command template, engine and
 * its settings, concurrency, retries, timeout, reporter, container image).
 * It is the lowest source of settings: flags > environment > `.env` >
 * `.minionize.yml` > defaults. Its parser (and the YAML and schema packages)
 * is loaded only when the file exists.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import { explain } from "../core/denied.ts";

/** The project file's name. */
export const PROJECT_FILE = ".minionize.yml";

/** What a project file says. */
export interface Project {
  /** The file's path. */
  path: string;
  /** The settings, as the variables they stand for. */
  variables: Record<string, string>;
  /** The command template, when `command` is given. */
  command: string[] | undefined;
}

/**
 * Reads the project file at `path`, or `undefined` when there is none.
 * Needs `--allow-read`.
 *
 * @throws {ConfigError} naming the key, the line and what is allowed
 */
export async function readProject(
  path: string = PROJECT_FILE,
): Promise<Project | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError(
      path,
      `Cannot read ${path}: ${explain(error, "make it readable or remove it")}`,
      { cause: error },
    );
  }
  const { parseProject } = await import("./project_schema.ts");
  return parseProject(text, path);
}
