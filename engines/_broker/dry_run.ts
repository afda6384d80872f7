/**
 * The dry run of a broker engine: each pending param handed out once,
 * read without claiming anything, so the minion prints what it would run.
 *
 * @module
 */

import type { Delivery, Engine } from "../../core/contracts.ts";
import type { Decoder } from "../../core/param.ts";
import { paramFields } from "./param.ts";

/** A pending message, as a dry run reads it. */
export interface Peeked {
  /** The queue's id for it. */
  id: string;
  /** Its text, decoded by the engine's decoder. */
  text: string;
  /** How many times it was handed out, this time included. @default {1} */
  attempt?: number;
}

const noop = () => Promise.resolve();

/** A delivery of `peeked` that settles nothing. */
export function peekedDelivery(peeked: Peeked, decoder: Decoder): Delivery {
  return {
    ...paramFields(peeked.text, decoder),
    attempt: Math.max(1, peeked.attempt ?? 1),
    id: peeked.id,
    ack: noop,
    nack: noop,
    release: noop,
    fail: noop,
  };
}

/**
 * An engine that hands out what `pending` yields, once each, and ends with
 * it; settling does nothing.
 *
 * @param name the engine's name
 * @param pending the pending messages, read page by page as it likes
 * @param decoder how their text becomes params
 * @param close releases the connection `pending` reads through
 */
export function peekingEngine(
  name: string,
  pending: AsyncIterable<Peeked>,
  decoder: Decoder,
  close: () => Promise<void>,
): Engine {
  const reader = pending[Symbol.asyncIterator]();
  return {
    name,
    redelivers: true,
    async next(signal) {
      if (signal.aborted) return undefined;
      const read = await reader.next();
      if (read.done || signal.aborted) return undefined;
      return peekedDelivery(read.value, decoder);
    },
    close,
  };
}

/**
 * Reads pages of `size` after a cursor until one comes back empty: the
 * pending messages of a queue that can be listed in order.
 *
 * @param page reads up to `size` messages after `after` (`undefined` at
 *   the start) and the cursor that follows the last of them
 */
export async function* pages<T>(
  page: (after: string | undefined) => Promise<{ items: T[]; after: string }>,
): AsyncIterable<T> {
  let after: string | undefined;
  while (true) {
    const read = await page(after);
    if (read.items.length === 0) return;
    yield* read.items;
    after = read.after;
  }
}
