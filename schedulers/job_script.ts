/**
 * The script every job of a fleet runs: it enters the submit directory,
 * sets the settings the submitter had in its environment (OAR passes none
 * to jobs; `.env` there is read by the minion as usual) and `MINION_FLEET`,
 * which makes the minion top the fleet up, then becomes the minion (`exec`,
 * so the scheduler's signals reach it).
 *
 * @module
 */

import { quote, split } from "npm:shlex@3.0.0";
import type { Env } from "../core/contracts.ts";

/**
 * Variables minionize and its engines read, passed on to the jobs: the
 * `MINION_*` settings and each engine's own, and `PATH` (to find the
 * program). Per-run variables (`MINION_ID`, `MINION_PARAM`, ...) are not.
 */
const SETTINGS =
  /^(MINION_|REPORTER_|EXECO_|FILE_|GOOGLE_|PUBSUB_|REDIS_|POSTGRES_|NATS_|AMQP_|KAFKA_|PULSAR_|DENO_DIR$|DATABASE_URL$|PATH$)/;
const PER_RUN = new Set([
  "MINION_ID",
  "MINION_PARAM",
  "MINION_ATTEMPT",
  "MINION_FLEET",
]);

/** The settings in `env` a job of the fleet must see. */
export function settingsToPass(env: Env): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && SETTINGS.test(name) && !PER_RUN.has(name)) {
      kept[name] = value;
    }
  }
  return kept;
}

/**
 * How a job starts minionize: the words of `MINIONIZE` when set (e.g.
 * `MINIONIZE="deno run -A /opt/minionize.js"`), else the way this process
 * was started: the compiled binary itself, or `deno run -A` with the
 * script it runs (`cli.ts`, or the bundled `minionize.js`).
 */
export function minionizeCommand(env: Env): string[] {
  const given = env.MINIONIZE?.trim();
  if (given) return split(given);
  const exec = Deno.execPath();
  const main = Deno.mainModule;
  const isDeno = /(^|\/)deno(\.exe)?$/.test(exec);
  if (!isDeno || !main.startsWith("file:")) return [exec];
  return [exec, "run", "-A", new URL(main).pathname];
}

/** What a job script is made of. */
export interface JobScriptOptions {
  /** The fleet's name, for the comment. */
  name: string;
  /** The fleet's directory (absolute), given to the minion as `MINION_FLEET`. */
  fleetDir: string;
  /** The directory the job works in. */
  cwd: string;
  /** Variables to set. */
  variables: Record<string, string>;
  /** The minion's full command line, minionize first. */
  command: readonly string[];
}

/** The job script's text. */
export function jobScript(options: JobScriptOptions): string {
  const exports = Object.entries(options.variables)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `export ${name}=${quote(value)}\n`).join("");
  return `#!/bin/sh
# A minion of the fleet ${options.name}, written by 'minionize submit'. Its
# minions submit this script again to keep the fleet supplied; the fleet's
# settings are in fleet.json beside it.
cd ${quote(options.cwd)} || exit 1
${exports}export MINION_FLEET=${quote(options.fleetDir)}
exec ${options.command.map((word) => quote(word)).join(" ")}
`;
}
