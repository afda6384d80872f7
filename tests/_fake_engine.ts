/**
 * An in-memory engine for unit tests of the minion loop (our own logic
 * only: every real engine is tested against its real server).
 *
 * @module
 */

import type { Delivery, Engine, JsonValue } from "../core/contracts.ts";

/** What happened to each param, in order. */
export type Settlement = [string, JsonValue];

/** A fake queue that records every settlement. */
export interface FakeEngine extends Engine {
  settled: Settlement[];
  renewals: number;
  /** Params given back with nack, put back at the end of the queue. */
  queue: { param: JsonValue; attempt: number; malformed?: string }[];
}

/** A fake engine holding `params`; `redelivers` decides how failures are retried. */
export function fakeEngine(
  params: JsonValue[],
  options: { redelivers?: boolean; renewEveryMs?: number; wait?: boolean } = {},
): FakeEngine {
  const engine: FakeEngine = {
    name: "fake",
    redelivers: options.redelivers ?? false,
    ...(options.renewEveryMs ? { renewEveryMs: options.renewEveryMs } : {}),
    settled: [],
    renewals: 0,
    queue: params.map((param) => ({ param, attempt: 1 })),
    async next(signal: AbortSignal): Promise<Delivery | undefined> {
      if (engine.queue.length === 0) {
        // With `wait`, an empty queue stays empty until the minion stops
        // waiting: no timer, so that tests run on fake time.
        if (options.wait && !signal.aborted) {
          await new Promise((resolve) =>
            signal.addEventListener("abort", resolve, { once: true })
          );
        }
        return undefined;
      }
      const item = engine.queue.shift()!;
      const record = (what: string) => () => {
        engine.settled.push([what, item.param]);
        return Promise.resolve();
      };
      return {
        param: item.param,
        attempt: item.attempt,
        id: JSON.stringify(item.param),
        ...(item.malformed ? { malformed: item.malformed } : {}),
        ack: record("ack"),
        nack: () => {
          engine.settled.push(["nack", item.param]);
          engine.queue.push({ param: item.param, attempt: item.attempt + 1 });
          return Promise.resolve();
        },
        release: record("release"),
        fail: record("fail"),
        renew: () => {
          engine.renewals++;
          return Promise.resolve();
        },
      };
    },
    close: () => Promise.resolve(),
  };
  return engine;
}
