/**
 * The lines that make failures visible without a reporter, as `xargs` and
 * GNU parallel do: one per failed run (the param, what went wrong, the
 * attempt, where the program's output went) and, when a minion that saw
 * failures leaves, one summing it up. The loop hands failures to a sink
 * (`MinionOptions.onFailure`); the CLI and `minionize()` print these lines
 * on stderr unless `--quiet` (`MINION_QUIET`).
 *
 * @module
 */

import type { MinionEventMap } from "../core/contracts.ts";
import type { MinionSummary } from "../core/minion.ts";
import { paramText } from "../core/param.ts";

/** Longest param shown in a line; the rest is cut with `…`. */
const PARAM_WIDTH = 60;

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/**
 * The line for one failed run.
 *
 * @example
 * ```ts
 * import { failureLine } from "./failure_log.ts";
 *
 * const line = failureLine({
 *   time: "2026-01-01T00:00:00.000Z", minion: "m", host: "h", pid: 1,
 *   seq: 1, param: "3", attempt: 1, outcome: "failed", slot: 1,
 *   timings: { next: 0, setup: 0, process: 5, teardown: 0 },
 *   error: "'a.out' exited with code 3", exitCode: 3, output: "out/3-0a1b",
 * });
 * console.log(line);
 * // minionize: param 3 failed (attempt 1): 'a.out' exited with code 3; output in out/3-0a1b
 * ```
 *
 * @param event the `param.finished` event of a `failed` or `retried` run
 * @returns one line, without its newline
 */
export function failureLine(event: MinionEventMap["param.finished"]): string {
  const param = clip(oneLine(paramText(event.param)), PARAM_WIDTH);
  const retrying = event.outcome === "retried" ? ", retrying" : "";
  const where = event.output === undefined
    ? ""
    : event.output === "inherit"
    ? "; output on the minion's stdout/stderr"
    : `; output in ${event.output}`;
  const error = oneLine(event.error ?? "failed");
  return `minionize: param ${param} failed (attempt ${event.attempt}${retrying}): ${error}${where}`;
}

/**
 * The line a minion that saw failures leaves with, e.g.
 * `minionize: 118 done, 2 failed`; `undefined` when nothing failed.
 *
 * @param summary how the minion's run went
 */
export function summaryLine(summary: MinionSummary): string | undefined {
  if (summary.failed === 0 && summary.retried === 0) return undefined;
  const retried = summary.retried > 0 ? `, ${summary.retried} retried` : "";
  return `minionize: ${summary.done} done, ${summary.failed} failed${retried}`;
}
