/**
 * Reporter `null`: keeps nothing (the default, as in the original tool).
 *
 * @module
 */

import type { ReporterPlugin } from "../core/contracts.ts";

/** The `null` reporter plug-in. */
export const nullReporter: ReporterPlugin = {
  open: () => Promise.resolve({ report() {}, close: () => Promise.resolve() }),
};
