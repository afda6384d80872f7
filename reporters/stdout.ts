/**
 * Reporter `stdout`: one line per finished run on standard output, tab
 * separated: outcome, seconds spent, attempt, param, and the error if any.
 *
 * @module
 */

import type { MinionEvent, ReporterPlugin } from "../core/contracts.ts";
import { paramText } from "../core/param.ts";

const encoder = new TextEncoder();

/** The line for one event, or `undefined` for events it does not show. */
export function formatEvent(event: MinionEvent): string | undefined {
  if (event.type !== "param.finished") return undefined;
  const { timings: t } = event;
  const seconds = ((t.setup + t.process + t.teardown) / 1000).toFixed(3);
  const fields = [
    event.outcome,
    `${seconds}s`,
    `attempt=${event.attempt}`,
    paramText(event.param),
  ];
  if (event.error) fields.push(event.error);
  return fields.join("\t").replace(/\n/g, " ");
}

/** The `stdout` reporter plug-in. */
export const stdoutReporter: ReporterPlugin = {
  open: () =>
    Promise.resolve({
      report(event: MinionEvent) {
        const line = formatEvent(event);
        if (line !== undefined) {
          Deno.stdout.writeSync(encoder.encode(`${line}\n`));
        }
      },
      close: () => Promise.resolve(),
    }),
};
