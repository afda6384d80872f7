/**
 * A Shared-subscription consumer: the broker pushes as many messages as it
 * was given permits (flow), each message settled gives one permit back, so
 * a consumer holds at most `permits` messages at once and the rest go to
 * other consumers of the subscription.
 *
 * A partitioned topic gets one consumer per partition
 * (`partition_consumer.ts`, which also unpacks batches and reconnects),
 * feeding one queue.
 *
 * @module
 */

import type { PulsarClient } from "./pulsar_client.ts";
import {
  type ConsumerOptions,
  type Held,
  type Message,
  PartitionConsumer,
} from "./partition_consumer.ts";

export type { ConsumerOptions, Message } from "./partition_consumer.ts";

const MAX_QUEUE_WAIT = 2 ** 31 - 1;

/** A message held by the application, with the means to settle it. */
export interface Received {
  /** What arrived. */
  readonly message: Message;
  /** Done: acknowledged (with its batch, once the whole batch is). */
  ack(): void;
  /** Failed: given back for redelivery (counted) once its batch settles. */
  nack(): void;
  /** Not processed: its permit is given back but it stays unacknowledged
   * until the consumer closes, when the broker hands it to another one. */
  hold(): void;
}

interface _Queued {
  held: Held;
  received: Received;
}

/** Consumes a topic (all its partitions) under a Shared subscription. */
export class Consumer {
  readonly #parts: PartitionConsumer[] = [];
  #queue: _Queued[] = [];
  #waiter: (() => void) | undefined;

  private constructor() {}

  /**
   * Subscribes to `options.topic`.
   *
   * @throws {PulsarError} when the broker refuses the subscription
   */
  static async open(
    client: PulsarClient,
    options: ConsumerOptions,
  ): Promise<Consumer> {
    const consumer = new Consumer();
    const partitions = await client.partitions(options.topic);
    const topics = partitions > 0
      ? Array.from(
        { length: partitions },
        (_, i) => `${options.topic}-partition-${i}`,
      )
      : [options.topic];
    for (const topic of topics) {
      consumer.#parts.push(
        new PartitionConsumer(
          client,
          topic,
          options,
          (message, held) => consumer.#push(message, held),
          (part) => consumer.#drop(part),
        ),
      );
    }
    try {
      await Promise.all(consumer.#parts.map((part) => part.ready));
    } catch (error) {
      await consumer.close();
      throw error;
    }
    return consumer;
  }

  #push(message: Message, held: Held) {
    let settled = false;
    const settle = (how: "ack" | "nack" | "hold") => {
      if (settled) return;
      settled = true;
      held.part.settle(held, how);
    };
    this.#queue.push({
      held,
      received: {
        message,
        ack: () => settle("ack"),
        nack: () => settle("nack"),
        hold: () => settle("hold"),
      },
    });
    this.#waiter?.();
  }

  #drop(part: PartitionConsumer) {
    const keep: _Queued[] = [];
    for (const queued of this.#queue) {
      if (queued.held.part === part) part.forget(queued.held);
      else keep.push(queued);
    }
    this.#queue = keep;
  }

  /** The next message, or `undefined` once `signal` aborts. */
  async receive(signal: AbortSignal): Promise<Received | undefined> {
    while (this.#queue.length === 0) {
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          this.#waiter = undefined;
          resolve();
        };
        const timer = setTimeout(done, MAX_QUEUE_WAIT);
        this.#waiter = done;
        signal.addEventListener("abort", done, { once: true });
      });
    }
    if (signal.aborted) return undefined;
    return this.#queue.shift()?.received;
  }

  /** Closes the subscription's consumers: the broker redelivers whatever
   * is unacknowledged to the other consumers. */
  async close(): Promise<void> {
    this.#queue = [];
    await Promise.all(this.#parts.map((part) => part.close()));
  }
}
