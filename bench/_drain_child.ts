/**
 * One minion of `engines_drain.ts`: runs a no-op function over the queue the
 * environment names (`minionize()`, as a user's script would), then prints
 * when it ran its first and last param and how many it did, as JSON.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { minionize } from "../runner/minionize.ts";

let first = Infinity;
let last = 0;
const summary = await minionize(() => {
  const now = Date.now();
  if (now < first) first = now;
  last = now;
}, { handleSignals: false, log: () => {} });
console.log(JSON.stringify({ first, last, done: summary.done }));
