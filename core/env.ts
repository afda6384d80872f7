/**
 * Readers of settings from variables (the environment over `.env`, with
 * flags written in as the variables they stand for), for the engines,
 * callbacks and reporters as for the minion's own settings. Each message
 * names the variable, its flag and what is expected.
 *
 * @module
 */

import type { Env } from "./contracts.ts";
import { ConfigError } from "./errors.ts";
import { describeRange, integerRange, secondsRange } from "./limits.ts";
import { FLAG_OF } from "./options.ts";

/**
 * A variable as messages name it: with the flag that stands for it, e.g.
 * `MINION_CONCURRENCY (-j)`; `flag` names one the option table does not.
 */
export function named(variable: string, flag = FLAG_OF[variable]): string {
  return flag ? `${variable} (${flag})` : variable;
}

/**
 * A whole number of at least `min` and at most the variable's maximum (see
 * `core/limits.ts`), or `undefined` when unset or empty.
 *
 * @throws {ConfigError} naming the variable and its range when malformed
 */
export function readInteger(
  env: Env,
  variable: string,
  min: number,
): number | undefined {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return undefined;
  const range = integerRange(variable, min);
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value < range.min || value > range.max) {
    throw new ConfigError(
      variable,
      `${named(variable)} is '${text}': expected ${
        describeRange(range)
      }, e.g. ${variable}=${Math.max(range.min, 2)}`,
    );
  }
  return value;
}

/**
 * A duration in seconds (decimals allowed) within the variable's range (see
 * `core/limits.ts`), returned in ms, or `undefined` when unset or empty.
 *
 * @throws {ConfigError} naming the variable and its range when malformed
 */
export function readSeconds(env: Env, variable: string): number | undefined {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return undefined;
  const range = secondsRange(variable);
  const value = Number(text);
  if (
    !/^[0-9]*\.?[0-9]+$/.test(text) || value < range.min || value > range.max
  ) {
    throw new ConfigError(
      variable,
      `${named(variable)} is '${text}': expected ${
        describeRange(range)
      }, e.g. ${variable}=30`,
    );
  }
  return Math.round(value * 1000);
}

const TRUE = ["1", "true", "yes", "on"];
const FALSE = ["", "0", "false", "no", "off"];

/** The default of `MINION_LEASE`, in ms: shared by every engine that leases. */
export const DEFAULT_LEASE_MS = 60_000;

/**
 * `MINION_LEASE`: how long a claimed param may go unrenewed before the queue
 * hands it to another minion, in ms (60 s by default; the minion renews every
 * third of it while a task runs). From 1 s to a day (`core/limits.ts`), so
 * every timer an engine derives from it stays within what timers allow.
 *
 * @throws {ConfigError} when malformed
 */
export function readLease(env: Env): number {
  return readSeconds(env, "MINION_LEASE") ?? DEFAULT_LEASE_MS;
}

/**
 * A yes/no variable.
 *
 * @throws {ConfigError} naming the variable when neither
 */
export function readBoolean(env: Env, variable: string): boolean {
  const text = (env[variable] ?? "").trim().toLowerCase();
  if (TRUE.includes(text)) return true;
  if (FALSE.includes(text)) return false;
  throw new ConfigError(
    variable,
    `${named(variable)} is '${
      env[variable]
    }': expected 1/true/yes/on or 0/false/no/off`,
  );
}

/**
 * One of `choices`, or `fallback` when unset.
 *
 * @throws {ConfigError} naming the variable and the choices
 */
export function readChoice<T extends string>(
  env: Env,
  variable: string,
  choices: readonly T[],
  fallback: T,
): T {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") return fallback;
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new ConfigError(
    variable,
    `${named(variable)} is '${text}': expected one of ${choices.join(", ")}`,
  );
}

/**
 * A variable that must be set.
 *
 * @throws {ConfigError} naming the variable when unset or empty
 */
export function readRequired(env: Env, variable: string, hint: string): string {
  const text = env[variable]?.trim();
  if (text === undefined || text === "") {
    throw new ConfigError(
      variable,
      `${variable} is not set: ${hint} (in the environment or in .env)`,
    );
  }
  return text;
}
