/**
 * A fresh queue of a broker engine for one conformance case: its own
 * stream or table (created empty through the engine's `publish`), and a
 * 2 s lease so that a killed minion's param returns soon.
 *
 * @module
 */

import { ENGINES } from "../../runner/registry.ts";
import type { RunningService } from "../services/harness.ts";
import type { ConformanceQueue } from "./suite.ts";

/**
 * Creates the queue that `scope` names on `service`, read back as
 * dead letters by `deadLetters`.
 */
export async function brokerQueue(
  engine: string,
  service: RunningService,
  scope: (tag: string) => Record<string, string>,
  deadLetters: (env: Record<string, string>) => Promise<string[]>,
  name: string,
): Promise<ConformanceQueue> {
  const tag = `q_${name.replace(/[^a-z0-9]+/gi, "_").slice(0, 30)}_${
    crypto.randomUUID().slice(0, 6)
  }`;
  const env = { ...service.env, ...scope(tag), MINION_LEASE: "2" };
  const plugin = await ENGINES[engine]!();
  await plugin.publish!((async function* () {})(), { env, create: true });
  return {
    env,
    leaseMs: 2_000,
    deadLetters: () => deadLetters(env),
    close: () => Promise.resolve(),
  };
}
