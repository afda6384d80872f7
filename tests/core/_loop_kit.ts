/**
 * What the loop's unit tests share: sinks that keep quiet and a reporter
 * that records every event.
 *
 * @module
 */

import type { MinionEvent } from "../../core/contracts.ts";

/** Warnings and dry-run lines go nowhere. */
export const quiet = { warn: () => {}, print: () => {} };

/** A reporter that keeps every event it hears, in order. */
export function recorder() {
  const events: MinionEvent[] = [];
  return {
    events,
    reporter: {
      report: (e: MinionEvent) => void events.push(e),
      close: () => Promise.resolve(),
    },
  };
}
