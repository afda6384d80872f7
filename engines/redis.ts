/**
 * Engine `redis`: params are entries of a Redis stream read through a
 * consumer group, so many minions share one stream and each entry goes to
 * one of them.
 *
 * - An entry is acknowledged and deleted when its task succeeds.
 * - A failed task's entry is given back: its idle time is pushed to the
 *   lease, so the next `XAUTOCLAIM` of any minion takes it and Redis counts
 *   one more delivery (the attempt number comes from that count).
 * - On SIGTERM the same is done with the count lowered back, so the stop
 *   does not use up an attempt.
 * - A minion that dies keeps its entries pending; once they have been idle
 *   for `MINION_LEASE` seconds a live minion claims them. A running task's
 *   entry is kept by resetting its idle time (`XCLAIM ... JUSTID`, only
 *   while this minion still holds it) every third of the lease.
 * - A param that fails for good is added to the dead-letter stream (with the
 *   reason and its original id) and removed from the queue.
 *
 * Settings: `REDIS_URL` (default `redis://127.0.0.1:6379`), `REDIS_STREAM`
 * (`minionize`), `REDIS_GROUP` (`minionize`), `REDIS_CONSUMER` (unique per
 * process), `REDIS_DEAD_LETTER` (`<stream>:failed`), `REDIS_DECODER`
 * (`identity` or `json`), `MINION_LEASE` (60 seconds).
 *
 * @module
 */

import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { decoderLineFormat } from "../core/param.ts";
import { pages, peekingEngine } from "./_broker/dry_run.ts";
import { publishInBatches } from "./_broker/publish.ts";
import {
  connectRedis,
  ensureGroup,
  FIELD,
  fieldOf,
  type RawEntry,
  readRedisSettings,
  type RedisClient,
  type RedisSettings,
} from "./redis_client.ts";
import { consumeStream } from "./redis_consumer.ts";

/** Opens the stream's consumer group for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readRedisSettings(options.env);
  const client = await connectRedis(settings.url);
  if (options.dryRun) return dryRun(client, settings);
  await ensureGroup(client, settings);
  return await consumeStream(client, settings, options.concurrency);
}

/** Lists the stream's entries once each, claiming and changing nothing. */
function dryRun(client: RedisClient, settings: RedisSettings): Engine {
  const entries = pages(async (after) => {
    const page = await client.sendCommand([
      "XRANGE",
      settings.stream,
      after ?? "-",
      "+",
      "COUNT",
      "100",
    ]) as RawEntry[];
    return {
      items: page.map(([id, fields]) => ({
        id,
        text: fieldOf(fields, FIELD) ?? "",
      })),
      after: `(${page.at(-1)?.[0]}`,
    };
  });
  return peekingEngine("redis", entries, settings.decoder, () => {
    client.destroy();
    return Promise.resolve();
  });
}

/**
 * Adds params to the stream as entries `{param: text}`: strings as they are
 * under the `identity` decoder, anything else (and everything under `json`)
 * as JSON. With `create`, also creates the consumer group.
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readRedisSettings(options.env);
  const client = await connectRedis(settings.url);
  try {
    if (options.create) await ensureGroup(client, settings);
    return await publishInBatches(params, {
      decoder: settings.decoder,
      // Commands sent in one tick go out as one pipeline.
      flush: (texts) =>
        Promise.all(
          texts.map((text) =>
            client.xAdd(settings.stream, "*", { [FIELD]: text })
          ),
        ),
    });
  } finally {
    client.destroy();
  }
}

/** The `redis` engine plug-in (Redis Streams and a consumer group). */
export const redisEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("REDIS_DECODER"),
};
