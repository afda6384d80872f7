/**
 * Engine `rabbitmq`: params are messages of a durable RabbitMQ queue
 * (a quorum queue when the engine creates it), consumed with manual acks and
 * a prefetch of `-j`, so the broker never hands a minion more than it runs.
 *
 * - success: the message is acked;
 * - failure with attempts left: it is rejected with requeue (a quorum queue
 *   counts it in `x-delivery-count`; on a classic queue, which counts
 *   nothing, a copy carrying the attempt count is queued instead);
 * - failure for good, or a message that is not JSON: a copy goes to
 *   `AMQP_FAILED_QUEUE` with the error in its `x-minion-error` header, and
 *   the original is acked; the main queue names the failed queue as its
 *   dead-letter target too, so the broker's own dead letters land there;
 * - SIGTERM: unfinished messages are queued again with their attempt count
 *   unchanged (a copy, then an ack: RabbitMQ 3.x counts every requeue);
 * - a minion that dies: the broker requeues what it held when its
 *   connection drops, counted as an attempt on quorum queues.
 *
 * Settings: `AMQP_URL` (default `amqp://localhost`), `AMQP_QUEUE` (default
 * `minionize`), `AMQP_FAILED_QUEUE` (default `<queue>.failed`),
 * `AMQP_QUEUE_TYPE` (`quorum`, the default, or `classic`; used only when the
 * engine creates the queue), `AMQP_DECODER` (`identity`, the default: the
 * body is the param, or `json`: the body is a JSON value, and a body that is
 * not JSON is recorded failed).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as amqp from "npm:amqplib@2.3.1";
import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { decoderLineFormat } from "../core/param.ts";
import { publishInBatches } from "./_broker/publish.ts";
import { cannotReach } from "./_broker/server.ts";
import {
  ensureQueues,
  rabbitServer,
  readRabbitSettings,
} from "./rabbitmq_client.ts";
import { consumeQueue } from "./rabbitmq_consumer.ts";

/** Opens the queue for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  return await consumeQueue(readRabbitSettings(options.env), options);
}

/** Queues `params`, one persistent message each, confirmed by the broker. */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readRabbitSettings(options.env);
  let model: amqp.ChannelModel;
  try {
    model = await amqp.connect(settings.url, {
      timeout: 10_000,
      noDelay: true,
    });
  } catch (error) {
    throw cannotReach(rabbitServer(settings), error);
  }
  try {
    await ensureQueues(model, settings, options.create);
    const channel = await model.createConfirmChannel();
    const count = await publishInBatches(params, {
      decoder: settings.decoder,
      flush: async (texts) => {
        for (const text of texts) {
          const more = channel.sendToQueue(settings.queue, Buffer.from(text), {
            persistent: true,
            contentType: settings.decoder === "json"
              ? "application/json"
              : "text/plain",
          });
          if (!more) {
            await new Promise((resolve) => channel.once("drain", resolve));
          }
        }
        await channel.waitForConfirms();
      },
    });
    await channel.close();
    return count;
  } finally {
    await model.close().catch(() => {});
  }
}

/**
 * The `rabbitmq` engine plug-in, as the registry hands it out.
 *
 * @example Publish two params, then run a function over them (needs a server)
 * ```ts ignore
 * import { rabbitmqEngine } from "./rabbitmq.ts";
 * import { runMinion } from "../core/minion.ts";
 *
 * const env = { AMQP_URL: "amqp://guest:guest@127.0.0.1:5672", AMQP_QUEUE: "sweep" };
 * async function* params() {
 *   yield "a";
 *   yield "b";
 * }
 * await rabbitmqEngine.publish!(params(), { env, create: true });
 * const engine = await rabbitmqEngine.open({ env, concurrency: 2, dryRun: false });
 * await runMinion({
 *   engine,
 *   concurrency: 2,
 *   idleExitMs: 5000,
 *   callback: { process: (param) => console.log(param) },
 * });
 * await engine.close();
 * ```
 */
export const rabbitmqEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("AMQP_DECODER"),
};
