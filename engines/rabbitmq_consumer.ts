/**
 * The consuming side of engine `rabbitmq` (see `rabbitmq.ts`): a consumer
 * with manual acks and a prefetch of `-j` on a connection that recovers by
 * itself, settling each message it hands out.
 *
 * @module
 */

import * as amqp from "npm:amqplib@2.3.1";
import type { Delivery, Engine, EngineOptions } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { Doorbell } from "./_broker/doorbell.ts";
import { Holdings } from "./_broker/holding.ts";
import { paramFields } from "./_broker/param.ts";
import { cannotReach } from "./_broker/server.ts";
import {
  attemptOf,
  ATTEMPTS,
  ensureQueues,
  ERROR,
  rabbitServer,
  type RabbitSettings,
  requeueCopy,
} from "./rabbitmq_client.ts";

/**
 * Consumes `settings.queue` with a prefetch of `options.concurrency`,
 * declaring the queues when missing, reconnecting for as long as the
 * minion runs; a dry run gets the messages one by one and gives them all
 * back when it closes.
 *
 * @throws {ConfigError} when the broker cannot be reached at start
 */
export async function consumeQueue(
  settings: RabbitSettings,
  options: EngineOptions,
): Promise<Engine> {
  const { queue } = settings;

  const holdings = new Holdings();
  const buffer: { owner: amqp.ConfirmChannel; msg: amqp.Message }[] = [];
  const bell = new Doorbell();
  let failure: Error | undefined;
  let channel: amqp.ConfirmChannel | undefined;
  let consumerTag: string | undefined;
  let closing = false;
  let stopped: Promise<void> | undefined;

  // Runs after the first connection and after every reconnection: the
  // broker has requeued whatever the lost channel held, so the buffer of
  // unstarted messages goes with it.
  const setup = async (model: amqp.ChannelModel) => {
    if (closing) return;
    buffer.length = 0;
    const fresh = await model.createConfirmChannel();
    fresh.on("error", () => {}); // its close event says the rest
    fresh.on("close", () => {
      if (closing || fresh !== channel) return;
      // The broker closed this channel alone (a message held past the
      // server's consumer_timeout does that) and requeued what it held:
      // consume again on a new channel. When the whole connection went,
      // this fails and the recovery's own setup takes over.
      buffer.length = 0;
      setTimeout(() => {
        if (!closing && fresh === channel) setup(model).catch(() => {});
      }, 200);
    });
    channel = fresh;
    if (options.dryRun || stopped) return;
    await fresh.prefetch(options.concurrency);
    const reply = await fresh.consume(queue, (msg) => {
      if (msg === null) {
        failure = new Error(
          `RabbitMQ cancelled the consumer of queue '${queue}' (was it deleted?)`,
        );
      } else if (fresh === channel) {
        buffer.push({ owner: fresh, msg });
      }
      bell.ring();
    }, { noAck: false });
    consumerTag = reply.consumerTag;
  };

  let model: amqp.RecoveringChannelModel;
  try {
    model = await amqp.connect(settings.url, {
      timeout: 10_000,
      // Acks are tiny frames sent one by one: without this, Nagle's
      // algorithm held them back and cut throughput about fourfold (P4).
      noDelay: true,
      clientProperties: { connection_name: "minionize" },
      recovery: {
        // Fail fast at start (a bad URL is a settings error), then keep
        // reconnecting for as long as the minion runs.
        initialMaxRetries: 0,
        maxRetries: Infinity,
        maxDelay: 5_000,
        setup: async (connected: amqp.ChannelModel) => {
          if (!channel) await ensureQueues(connected, settings, true);
          await setup(connected);
        },
      },
    });
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw cannotReach(rabbitServer(settings), error);
  }
  model.on("error", () => {}); // reconnects are the recovery's business

  const deliveryOf = (
    owner: amqp.ConfirmChannel,
    msg: amqp.Message,
  ): Delivery => {
    const hold = holdings.take();
    const attempt = attemptOf(msg);
    const quorum = msg.properties.headers?.["x-delivery-count"] !== undefined;
    const giveBack = () =>
      options.dryRun
        // A dry run holds what it saw until it closes, so it never sees a
        // message twice; closing the channel puts them all back.
        ? Promise.resolve()
        : stopConsuming().then(() =>
          requeueCopy(owner, msg, queue, { [ATTEMPTS]: attempt - 1 })
        );
    return {
      ...paramFields(msg.content.toString("utf8"), settings.decoder),
      attempt,
      id: `${queue}#${msg.fields.deliveryTag}`,
      ack: () => hold.settle(() => owner.ack(msg)),
      nack: () =>
        hold.settle(() =>
          quorum
            ? owner.reject(msg, true)
            : requeueCopy(owner, msg, queue, { [ATTEMPTS]: attempt })
        ),
      release: () => hold.settle(giveBack),
      fail: (reason) =>
        hold.settle(() =>
          requeueCopy(owner, msg, settings.failedQueue, {
            [ERROR]: reason.slice(0, 4000),
            [ATTEMPTS]: attempt,
            "x-minion-queue": queue,
          })
        ),
    };
  };

  const nextDry = async (): Promise<Delivery | undefined> => {
    const owner = channel;
    if (!owner) throw new Error(`not connected to RabbitMQ`);
    const msg = await owner.get(queue, { noAck: false });
    return msg === false ? undefined : deliveryOf(owner, msg);
  };

  // Stops deliveries and gives back the unstarted ones. Called when the
  // intake stops, and on the first release (only a stopping minion releases),
  // so a given-back param is not handed straight back to this minion.
  const stopConsuming = () =>
    stopped ??= (async () => {
      const owner = channel;
      if (owner && consumerTag) {
        await owner.cancel(consumerTag).catch(() => {});
        consumerTag = undefined;
      }
      // Unstarted messages go back as they came, no attempt spent.
      await Promise.all(
        buffer.splice(0).map(({ owner, msg }) =>
          requeueCopy(owner, msg, queue, { [ATTEMPTS]: attemptOf(msg) - 1 })
            .catch(() => {})
        ),
      );
    })();

  return {
    name: "rabbitmq",
    redelivers: true,
    async next(signal): Promise<Delivery | undefined> {
      if (options.dryRun) return await nextDry();
      while (true) {
        if (failure) throw failure;
        if (signal.aborted) {
          await stopConsuming();
          return undefined;
        }
        const held = buffer.shift();
        if (held) return deliveryOf(held.owner, held.msg);
        await bell.wait(signal);
      }
    },
    async remaining() {
      try {
        const spare = await model.createChannel();
        const { messageCount } = await spare.checkQueue(queue);
        await spare.close();
        return messageCount;
      } catch {
        return undefined;
      }
    },
    async close() {
      await stopConsuming();
      closing = true;
      // The channel first: RabbitMQ 3.10 was seen to requeue a quorum
      // queue message acked just before its connection closed.
      await channel?.close().catch(() => {});
      await model.close().catch(() => {});
    },
  };
}
