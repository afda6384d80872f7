/**
 * `minionize sweep convert [DIR] [--force]`: moves a sweep kept in Python
 * execo's files (shared with Python minions) to minionize's own format.
 *
 * It knows no Python minion is working there when no param is in execo's
 * `inprogress` but those minionize's minions hold: a Python minion between
 * two params holds nothing, loses nothing, and stops at its next step with
 * a message (see `engines/execo/execo_convert.ts`). Params that Python
 * minions hold make it refuse, unless `--force` says those minions are
 * gone: then the params go back to the queue.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { type OptionSpec, parseArgs } from "./_args.ts";
import type { Env } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { convertSweep } from "../engines/execo/execo_convert.ts";
import { isExecoSweep } from "../engines/execo/execo_view.ts";
import { LOG } from "../engines/execo/files.ts";
import { SweepError } from "../engines/execo/store.ts";

/** The options of `sweep convert` besides `--dir` and `--help`. */
export const CONVERT_OPTIONS: readonly OptionSpec[] = [
  {
    long: "--force",
    help:
      "convert even though Python minions hold params (for minions that were killed): their params go back to the queue",
  },
];

/** The usage line of `sweep convert`. */
export const CONVERT_USAGE =
  "convert [DIR] [--force]     move a Python execo sweep to minionize's faster format, once no Python minion runs there";

/**
 * Runs `minionize sweep convert`.
 *
 * @returns 0 when the sweep was moved or was moved already
 * @throws {ConfigError} on a bad argument
 * @throws {SweepError} when DIR holds no execo sweep, or Python minions
 * hold params and `--force` is not given
 */
export async function convert(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
): Promise<number> {
  const [operand, ...after] = rest;
  const more = parseArgs(after, CONVERT_OPTIONS, "minionize sweep convert");
  if (more.rest.length > 0) {
    throw new ConfigError(
      more.rest[0]!,
      `unexpected argument '${
        more.rest[0]
      }': sweep convert moves one directory; see 'minionize sweep convert --help'`,
    );
  }
  const target = operand ?? dir;
  const force = flags.has("--force") || more.flags.has("--force");
  if (journalIn(target)) {
    console.log(`${target} is in minionize's format already; nothing to do`);
    return 0;
  }
  if (!isExecoSweep(target)) {
    throw new SweepError(
      "not-a-sweep",
      `${target} holds no sweep of Python execo ('sweeps' file) to convert`,
    );
  }
  const result = await convertSweep(target, {
    env,
    force,
    warn: (message) => console.error(`minionize: warning: ${message}`),
  });
  const parts = [
    `${result.params} params`,
    ...(result.held > 0
      ? [`${result.held} held by minions of minionize stay theirs`]
      : []),
    ...(result.released > 0
      ? [`${result.released} held by Python minions went back to the queue`]
      : []),
  ];
  console.log(
    `moved the sweep in ${target} to minionize's format (${
      parts.join("; ")
    }); Python minions there stop at their next step, and those that start there stop at once, with a message`,
  );
  return 0;
}

function journalIn(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/${LOG}`).isFile;
  } catch {
    return false;
  }
}
