/**
 * This machine's host name, as minion ids, reports and job logs carry it.
 *
 * @module
 */

import { explain } from "./denied.ts";
import { ConfigError } from "./errors.ts";

/**
 * This machine's host name, which minion ids and reports carry. Needs
 * `--allow-sys=hostname`.
 *
 * @throws {ConfigError} when Deno denies reading it: a silent stand-in such
 * as `localhost` would make every node's minions look alike in reports
 */
export function hostname(): string {
  try {
    return Deno.hostname();
  } catch (error) {
    throw new ConfigError(
      "--allow-sys",
      `Cannot read this machine's host name (minion ids and reports carry it): ${
        explain(error, "check the system's host name")
      }`,
      { cause: error },
    );
  }
}
