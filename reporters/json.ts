/**
 * Reporter `json`: every event as one JSON line, appended to a file of this
 * minion's own under `REPORTER_JSON_DIRECTORY` (default `minion-report`).
 * One writer per file keeps it safe with hundreds of minions on a shared
 * filesystem; `minionize status` reads them all, also while they run.
 *
 * @module
 */

import type { MinionEvent, ReporterPlugin } from "../core/contracts.ts";
import { explain } from "../core/denied.ts";
import { ConfigError } from "../core/errors.ts";

const encoder = new TextEncoder();

/** The default directory, as in the original tool. */
export const DEFAULT_JSON_DIRECTORY = "minion-report";

/** The `json` reporter plug-in. */
export const jsonReporter: ReporterPlugin = {
  async open({ env, minionId }) {
    const directory = env.REPORTER_JSON_DIRECTORY?.trim() ||
      DEFAULT_JSON_DIRECTORY;
    let file: Deno.FsFile;
    try {
      await Deno.mkdir(directory, { recursive: true });
      file = await Deno.open(`${directory}/${minionId}.jsonl`, {
        append: true,
        create: true,
      });
    } catch (error) {
      throw new ConfigError(
        "REPORTER_JSON_DIRECTORY",
        `Cannot write reports to REPORTER_JSON_DIRECTORY '${directory}': ${
          explain(error, "give a writable directory")
        }`,
        { cause: error },
      );
    }
    return {
      report(event: MinionEvent) {
        // One write per line: a reader never sees half an event unless the
        // minion died in the middle of it, and readers skip such a line.
        const bytes = encoder.encode(`${JSON.stringify(event)}\n`);
        let written = 0;
        while (written < bytes.length) {
          written += file.writeSync(bytes.subarray(written));
        }
      },
      close() {
        file.close();
        return Promise.resolve();
      },
    };
  },
};
