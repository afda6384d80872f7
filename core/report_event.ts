/**
 * One line of a minion's json report, checked: the fields every reader of
 * reports (`status`, `top`, `stats`) relies on, so that a report directory
 * holding other JSON lines never crashes them.
 *
 * @module
 */

import type { MinionEvent, PhaseTimings } from "./contracts.ts";

/** The phases of a run, in order. */
export const PHASES: readonly (keyof PhaseTimings)[] = [
  "next",
  "setup",
  "process",
  "teardown",
];

const OUTCOMES = new Set(["done", "failed", "retried", "requeued"]);

const EVENT_TYPES = new Set([
  "minion.started",
  "minion.heartbeat",
  "param.started",
  "param.finished",
  "minion.stopped",
]);

/**
 * `value` as a minion event when it has the fields readers use, else
 * `undefined`: a report directory may hold other JSON lines (another tool's,
 * a hand-edited file), which must not crash `status` or `top`.
 */
export function asEvent(value: unknown): MinionEvent | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return undefined;
  }
  const event = value as Record<string, unknown>;
  const isNumber = (field: unknown) =>
    typeof field === "number" && Number.isFinite(field);
  if (
    typeof event.type !== "string" || !EVENT_TYPES.has(event.type) ||
    typeof event.minion !== "string" || event.minion === "" ||
    typeof event.host !== "string" || !isNumber(event.pid) ||
    typeof event.time !== "string" || Number.isNaN(Date.parse(event.time))
  ) {
    return undefined;
  }
  if (event.type === "param.started" && !isNumber(event.seq)) return undefined;
  if (event.type === "param.finished") {
    const timings = event.timings as Record<string, unknown> | null;
    if (
      !isNumber(event.seq) || typeof event.outcome !== "string" ||
      !OUTCOMES.has(event.outcome) || timings === null ||
      typeof timings !== "object" ||
      !PHASES.every((phase) => isNumber(timings[phase])) ||
      !["undefined", "string"].includes(typeof event.error) ||
      !["undefined", "string"].includes(typeof event.signal) ||
      (event.exitCode !== undefined && !isNumber(event.exitCode))
    ) {
      return undefined;
    }
  }
  if (event.type === "minion.stopped" && typeof event.reason !== "string") {
    return undefined;
  }
  return event as unknown as MinionEvent;
}
