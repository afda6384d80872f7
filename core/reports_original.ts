/**
 * Reports of the original Python minionize (0.3.x) read as this tool's
 * events, so that `minionize status` and `minionize top` show old and new
 * minions side by side in one report directory.
 *
 * The original's json reporter writes one file per minion, named by a
 * random UUID (no extension), in the same `REPORTER_JSON_DIRECTORY`
 * (default `minion-report`). Each line is one finished param: `uid`,
 * `generation`, `start` and `end` (seconds since the epoch), `param`,
 * `error` (text, or null), `atomic_actions` (`next`, `setup`, `process`,
 * `teardown`, each with `start` and `end`), `nodename` and, under OAR,
 * `oar_job_id`. It writes no line when a minion starts or stops, nor while
 * a param runs, and it records a failed param as done in the queue.
 *
 * @module
 */

import type { JsonValue, MinionEvent, PhaseTimings } from "./contracts.ts";

/** Whether a report file's name is one the original writes (a UUID). */
export function isOriginalReport(name: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
    .test(name);
}

/** What the original's state column says: it reports no start or stop. */
export const ORIGINAL_STATE = "original";

interface OriginalLine {
  uid?: string;
  generation?: number;
  start?: number;
  end?: number | null;
  param?: JsonValue;
  error?: string | null;
  atomic_actions?: { name?: string; start?: number; end?: number }[];
  nodename?: string;
}

/** The minion id shown for an original minion: `py-` and its UUID's start. */
export function originalMinionId(uid: string): string {
  return `py-${uid.slice(0, 8)}`;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/**
 * The events one line of an original report stands for: the param's start
 * and its end. A line that does not read gives none.
 */
export function originalEvents(line: string): MinionEvent[] {
  let event: OriginalLine;
  try {
    event = JSON.parse(line) as OriginalLine;
  } catch {
    return []; // cut short by a killed minion
  }
  if (
    typeof event !== "object" || event === null ||
    typeof event.uid !== "string" || typeof event.start !== "number"
  ) return [];
  const end = typeof event.end === "number" ? event.end : event.start;
  const timings: PhaseTimings = { next: 0, setup: 0, process: 0, teardown: 0 };
  for (const action of event.atomic_actions ?? []) {
    if (
      action.name && action.name in timings &&
      typeof action.start === "number" && typeof action.end === "number"
    ) {
      timings[action.name as keyof PhaseTimings] +=
        (action.end - action.start) *
        1000;
    }
  }
  const base = {
    minion: originalMinionId(event.uid),
    host: event.nodename ?? "",
    pid: 0,
    seq: event.generation ?? 0,
    param: event.param ?? null,
    attempt: 1,
  };
  const failed = typeof event.error === "string";
  return [
    { type: "param.started", time: iso(event.start), ...base },
    {
      type: "param.finished",
      time: iso(end),
      ...base,
      outcome: failed ? "failed" : "done",
      timings,
      ...(failed ? { error: event.error! } : {}),
    },
  ] as MinionEvent[];
}
