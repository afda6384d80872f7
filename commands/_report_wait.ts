/**
 * Waiting for the first report: `minionize status` and `top` are often
 * started beside minions that have not started yet, so while the reports
 * directory does not exist they wait (up to `--wait`, saying so once on
 * stderr) instead of failing at once.
 *
 * @module
 */

import type { OptionSpec } from "./_args.ts";
import { ConfigError } from "../core/errors.ts";

/** The `--wait` option of `status` and `top`. */
export const WAIT_OPTION: OptionSpec = {
  long: "--wait",
  value: "SECONDS",
  help:
    "wait this long for the reports directory while it does not exist; 0 to fail at once (default 30)",
};

/** The longest `--wait`, in seconds (a day), as every duration has a bound. */
const MAX_WAIT_S = 86_400;

/** How long `status` and `top` wait for a first report by default, in ms. */
export const DEFAULT_WAIT_MS = 30_000;

/**
 * The `--wait` value in ms.
 *
 * @throws {ConfigError} when it is not a number of seconds
 */
export function readWait(text: string | undefined): number {
  if (text === undefined) return DEFAULT_WAIT_MS;
  const value = Number(text.trim());
  if (
    !/^[0-9]*\.?[0-9]+$/.test(text.trim()) || !Number.isFinite(value) ||
    value > MAX_WAIT_S
  ) {
    throw new ConfigError(
      "--wait",
      `--wait is '${text}': expected a number of seconds from 0 to ${MAX_WAIT_S} (a day), e.g. --wait 60`,
    );
  }
  return Math.round(value * 1000);
}

/**
 * Whether `directory` exists: the json reporter makes it, with the
 * minion's file, as the minion starts.
 */
async function exists(directory: string): Promise<boolean> {
  try {
    await Deno.stat(directory);
    return true;
  } catch (error) {
    // Anything but its absence is for the reader to explain.
    return !(error instanceof Deno.errors.NotFound);
  }
}

/** How {@linkcode waitForReports} waits. */
export interface WaitOptions {
  /** Longest wait, in ms; 0 returns at once. */
  timeoutMs: number;
  /** Receives the one line saying it waits. */
  notify: (line: string) => void;
  /** Time between looks, in ms. @default {200} */
  pollMs?: number;
}

/**
 * Resolves once the reports directory exists (the first minion made it),
 * or at once when `timeoutMs` is 0 (the reader then says what is missing).
 *
 * @throws {ConfigError} when none appeared in time
 */
export async function waitForReports(
  directory: string,
  options: WaitOptions,
): Promise<void> {
  if (options.timeoutMs === 0 || await exists(directory)) return;
  const seconds = options.timeoutMs / 1000;
  options.notify(
    `minionize: waiting up to ${seconds}s for the first report in '${directory}' (minions write them with MINION_REPORTER=json; --wait 0 not to wait)`,
  );
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
    if (await exists(directory)) return;
  }
  throw new ConfigError(
    "REPORTER_JSON_DIRECTORY",
    `Cannot read reports in '${directory}': it did not appear within ${seconds}s; run minions with MINION_REPORTER=json, or name their REPORTER_JSON_DIRECTORY`,
  );
}
