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
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import {
  decode,
  type Decoder,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../core/param.ts";

/** Header holding the attempts already spent before this copy was queued. */
const ATTEMPTS = "x-minion-attempts";
/** Header of a failed param: why it failed. */
const ERROR = "x-minion-error";

interface Settings {
  url: string;
  queue: string;
  failedQueue: string;
  queueType: "quorum" | "classic";
  decoder: Decoder;
}

function readSettings(env: Env): Settings {
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

/** The URL with its password hidden, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function unreachable(settings: Settings, error: unknown): ConfigError {
  return new ConfigError(
    "AMQP_URL",
    `Cannot connect to RabbitMQ at AMQP_URL '${redact(settings.url)}': ${
      message(error)
    }; check that the server runs and is reachable from here, and the URL's user, password and vhost`,
    { cause: error },
  );
}

/** Declares the queues when missing; leaves existing ones as they are. */
async function ensureQueues(
  model: amqp.ChannelModel,
  settings: Settings,
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
function attemptOf(msg: amqp.Message): number {
  const headers = msg.properties.headers ?? {};
  const before = Number(headers[ATTEMPTS] ?? 0) || 0;
  const count = headers["x-delivery-count"];
  // Quorum queues count returns; classic queues only say "redelivered".
  if (count !== undefined) return before + (Number(count) || 0) + 1;
  return before + (msg.fields.redelivered ? 1 : 0) + 1;
}

/** Opens the queue for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readSettings(options.env);
  const { queue } = settings;

  const buffer: { owner: amqp.ConfirmChannel; msg: amqp.Message }[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let channel: amqp.ConfirmChannel | undefined;
  let consumerTag: string | undefined;
  let closing = false;
  let stopped: Promise<void> | undefined;

  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };

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
      notify();
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
    throw unreachable(settings, error);
  }
  model.on("error", () => {}); // reconnects are the recovery's business

  /** Queues a copy of `msg` with `spent` attempts recorded, then acks it. */
  const requeueCopy = async (
    owner: amqp.ConfirmChannel,
    msg: amqp.Message,
    target: string,
    headers: Record<string, unknown>,
  ) => {
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
  };

  const deliveryOf = (
    owner: amqp.ConfirmChannel,
    msg: amqp.Message,
  ): Delivery => {
    const text = msg.content.toString("utf8");
    const decoded = decode(text, settings.decoder);
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
      param: decoded.param,
      attempt,
      id: `${queue}#${msg.fields.deliveryTag}`,
      ...(decoded.ok ? {} : { malformed: decoded.error }),
      ack: () => Promise.resolve(owner.ack(msg)),
      nack: () =>
        quorum
          ? Promise.resolve(owner.reject(msg, true))
          : requeueCopy(owner, msg, queue, { [ATTEMPTS]: attempt }),
      release: giveBack,
      fail: (reason) =>
        requeueCopy(owner, msg, settings.failedQueue, {
          [ERROR]: reason.slice(0, 4000),
          [ATTEMPTS]: attempt,
          "x-minion-queue": queue,
        }),
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
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", notify, { once: true });
        });
        signal.removeEventListener("abort", notify);
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

/** Queues `params`, one persistent message each, confirmed by the broker. */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readSettings(options.env);
  let model: amqp.ChannelModel;
  try {
    model = await amqp.connect(settings.url, {
      timeout: 10_000,
      noDelay: true,
    });
  } catch (error) {
    throw unreachable(settings, error);
  }
  try {
    await ensureQueues(model, settings, options.create);
    const channel = await model.createConfirmChannel();
    let count = 0;
    for await (const param of params) {
      const body = encode(param, settings.decoder);
      const more = channel.sendToQueue(settings.queue, Buffer.from(body), {
        persistent: true,
        contentType: settings.decoder === "json"
          ? "application/json"
          : "text/plain",
      });
      count++;
      if (!more) {
        await new Promise((resolve) => channel.once("drain", resolve));
      }
      if (count % 1000 === 0) await channel.waitForConfirms();
    }
    await channel.waitForConfirms();
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
