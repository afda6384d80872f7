/**
 * `minionize publish` for a broker: params encoded for the engine's
 * decoder and sent in batches, so that a large input goes out in few round
 * trips without being held in memory whole.
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { type Decoder, encode } from "../../core/param.ts";

/** How {@linkcode publishInBatches} sends. */
export interface PublishBatchesOptions {
  /** How params become message text. */
  decoder: Decoder;
  /** Params per batch. @default {1000} */
  size?: number;
  /** Sends one batch of message texts; resolves once the broker has them. */
  flush(texts: string[]): Promise<unknown>;
}

/**
 * Encodes `params` (strings as they are under the `identity` decoder,
 * anything else as JSON) and sends them in batches.
 *
 * @returns how many params were sent
 */
export async function publishInBatches(
  params: AsyncIterable<JsonValue>,
  options: PublishBatchesOptions,
): Promise<number> {
  const size = options.size ?? 1_000;
  let count = 0;
  let batch: string[] = [];
  for await (const param of params) {
    batch.push(encode(param, options.decoder));
    count++;
    if (batch.length >= size) {
      await options.flush(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await options.flush(batch);
  return count;
}
