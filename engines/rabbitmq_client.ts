/**
 * Reaching the queues of engine `rabbitmq`: its settings, the queues it
 * needs, the attempt a message carries, and the copy that requeues a
 * message with headers of our own.
 *
 * @module
 */

import type * as amqp from "npm:amqplib@2.3.1";
import type { Env } from "../core/contracts.ts";
import { readChoice } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import { type Decoder, DECODERS } from "../core/param.ts";
import { type BrokerServer, redact } from "./_broker/server.ts";

/** Header holding the attempts already spent before this copy was queued. */
export const ATTEMPTS = "x-minion-attempts";
/** Header of a failed param: why it failed. */
export const ERROR = "x-minion-error";

/** The settings of the `rabbitmq` engine, read from its variables. */
export interface RabbitSettings {
  /** `AMQP_URL`. */
  url: string;
  /** `AMQP_QUEUE`. */
  queue: string;
  /** `AMQP_FAILED_QUEUE`. */
  failedQueue: string;
  /** `AMQP_QUEUE_TYPE`, for queues the engine creates. */
  queueType: "quorum" | "classic";
  /** `AMQP_DECODER`. */
  decoder: Decoder;
}

/**
 * Reads the `AMQP_*` variables.
 *
 * @throws {ConfigError} naming the variable at fault
 */
export function readRabbitSettings(env: Env): RabbitSettings {
  const url = env.AMQP_URL?.trim() || "amqp://localhost";
  if (!/^amqps?:\/\//.test(url)) {
    throw new ConfigError(
      "AMQP_URL",
      `AMQP_URL is '${
        redact(url)
      }': expected an amqp:// or amqps:// URL, e.g. AMQP_URL=amqp://user:password@host:5672/vhost`,
    );
  }
  const queue = env.AMQP_QUEUE?.trim() || "minionize";
  return {
    url,
    queue,
    failedQueue: env.AMQP_FAILED_QUEUE?.trim() || `${queue}.failed`,
    queueType: readChoice(
      env,
      "AMQP_QUEUE_TYPE",
      ["quorum", "classic"],
      "quorum",
    ),
    decoder: readChoice(env, "AMQP_DECODER", DECODERS, "identity"),
  };
}

/** The broker, as messages name it. */
export function rabbitServer(settings: RabbitSettings): BrokerServer {
  return {
    kind: "RabbitMQ",
    variable: "AMQP_URL",
    address: settings.url,
    fix:
      "check that the server runs and is reachable from here, and the URL's user, password and vhost",
  };
}

/** Declares the queues when missing; leaves existing ones as they are. */
export async function ensureQueues(
  model: amqp.ChannelModel,
  settings: RabbitSettings,
  create: boolean,
): Promise<void> {
  const exists = async (queue: string) => {
    // A missing queue closes the channel it was asked on: use a spare one.
    const channel = await model.createChannel();
    channel.on("error", () => {});
    try {
      await channel.checkQueue(queue);
      await channel.close();
      return true;
    } catch {
      return false;
    }
  };
  const declare = async (queue: string, args: Record<string, string>) => {
    const channel = await model.createChannel();
    try {
      await channel.assertQueue(queue, {
        durable: true,
        arguments: { "x-queue-type": settings.queueType, ...args },
      });
    } finally {
      await channel.close().catch(() => {});
    }
  };
  for (
    const [queue, args] of [
      [settings.failedQueue, {}],
      [settings.queue, {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": settings.failedQueue,
      }],
    ] as const
  ) {
    if (await exists(queue)) continue;
    if (!create) {
      throw new ConfigError(
        "AMQP_QUEUE",
        `Cannot publish: RabbitMQ queue '${queue}' does not exist at '${
          redact(settings.url)
        }'; create it with 'minionize publish --create', or check AMQP_QUEUE`,
      );
    }
    await declare(queue, args);
  }
}

/** Attempts spent on `msg`, this delivery included. */
export function attemptOf(msg: amqp.Message): number {
  const headers = msg.properties.headers ?? {};
  const before = Number(headers[ATTEMPTS] ?? 0) || 0;
  const count = headers["x-delivery-count"];
  // Quorum queues count returns; classic queues only say "redelivered".
  if (count !== undefined) return before + (Number(count) || 0) + 1;
  return before + (msg.fields.redelivered ? 1 : 0) + 1;
}

/** Queues a copy of `msg` on `target` with `headers` added, then acks it. */
export async function requeueCopy(
  owner: amqp.ConfirmChannel,
  msg: amqp.Message,
  target: string,
  headers: Record<string, unknown>,
): Promise<void> {
  // The broker's own count starts again on the copy.
  const { "x-delivery-count": _count, ...kept } = msg.properties.headers ??
    {};
  await new Promise<void>((resolve, reject) => {
    owner.sendToQueue(target, msg.content, {
      ...msg.properties,
      persistent: true,
      headers: { ...kept, ...headers },
    }, (error: unknown) => error ? reject(error) : resolve());
  });
  owner.ack(msg);
}
