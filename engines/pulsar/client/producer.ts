/**
 * Sends messages to a topic, one message per frame with its CRC-32C, and
 * resolves each once the broker stored it. A lost connection is reopened
 * with backoff and unacknowledged messages are sent again under their
 * sequence ids. A partitioned topic gets one producer per partition, used
 * in turn.
 *
 * @module
 */

import { backoffMs, PulsarClient, sleep } from "./pulsar_client.ts";
import {
  type Command,
  type KeyValue,
  type MessageId,
  Type,
} from "./commands.ts";
import { type Connection, nextId, PulsarError } from "./connection.ts";

/** One message to send. */
export interface OutgoingMessage {
  /** The bytes to send. */
  payload: Uint8Array;
  /** Properties to set on the message. @default {{}} */
  properties?: Record<string, string>;
}

interface Unconfirmed {
  sequenceId: number;
  message: OutgoingMessage;
  publishTime: number;
  resolve(id: MessageId): void;
  reject(error: Error): void;
}

const MAX_RECONNECTS = 10;

class _PartitionProducer {
  readonly #client: PulsarClient;
  readonly #topic: string;
  readonly #producerId = nextId();
  #name = "";
  #conn: Connection | undefined;
  #ready: Promise<void>;
  #sequence = 0;
  #closed = false;
  readonly #unconfirmed = new Map<number, Unconfirmed>();

  constructor(client: PulsarClient, topic: string) {
    this.#client = client;
    this.#topic = topic;
    this.#ready = this.#attach();
  }

  get ready(): Promise<void> {
    return this.#ready;
  }

  async #attach(): Promise<void> {
    const conn = await this.#client.lookup(this.#topic);
    const requestId = nextId();
    conn.addProducer(this.#producerId, {
      onReceipt: (command) => this.#onReceipt(command),
      onSendError: (command) => this.#onSendError(command),
      onClose: () => this.#reattach(),
    });
    const answer = await conn.request(requestId, {
      type: Type.PRODUCER,
      producer: {
        topic: this.#topic,
        producer_id: this.#producerId,
        request_id: requestId,
        ...(this.#name ? { producer_name: this.#name } : {}),
      },
    });
    this.#name = answer.producer_success.producer_name;
    this.#conn = conn;
    for (const entry of [...this.#unconfirmed.values()]) this.#write(entry);
  }

  #reattach() {
    if (this.#closed) return;
    this.#conn = undefined;
    this.#ready = (async () => {
      for (let attempt = 0;; attempt++) {
        await sleep(backoffMs(attempt));
        if (this.#closed) return;
        try {
          return await this.#attach();
        } catch (error) {
          if (attempt + 1 >= MAX_RECONNECTS) {
            const failure = new PulsarError(
              `Cannot send to Pulsar topic '${this.#topic}': ${
                (error as Error).message
              }`,
              undefined,
              { cause: error },
            );
            for (const entry of this.#unconfirmed.values()) {
              entry.reject(failure);
            }
            this.#unconfirmed.clear();
            throw failure;
          }
        }
      }
    })();
    this.#ready.catch(() => {});
  }

  #onReceipt(command: Command) {
    const receipt = command.send_receipt;
    const entry = this.#unconfirmed.get(receipt.sequence_id);
    if (!entry) return;
    this.#unconfirmed.delete(receipt.sequence_id);
    entry.resolve(receipt.message_id ?? { ledgerId: -1, entryId: -1 });
  }

  #onSendError(command: Command) {
    // The broker closes the producer after a send error; the entry is sent
    // again once it is reopened.
    this.#conn?.removeProducer(this.#producerId);
    this.#reattach();
    void command;
  }

  #write(entry: Unconfirmed) {
    const properties: KeyValue[] = Object.entries(
      entry.message.properties ?? {},
    ).map(([key, value]) => ({ key, value }));
    this.#conn?.sendPayload(
      {
        type: Type.SEND,
        send: {
          producer_id: this.#producerId,
          sequence_id: entry.sequenceId,
          num_messages: 1,
        },
      },
      {
        producer_name: this.#name,
        sequence_id: entry.sequenceId,
        publish_time: entry.publishTime,
        ...(properties.length ? { properties } : {}),
        uncompressed_size: entry.message.payload.length,
      },
      entry.message.payload,
    );
  }

  async send(message: OutgoingMessage): Promise<MessageId> {
    await this.#ready;
    if (this.#closed) throw new PulsarError("the producer is closed");
    return new Promise<MessageId>((resolve, reject) => {
      const entry: Unconfirmed = {
        sequenceId: this.#sequence++,
        message,
        publishTime: Date.now(),
        resolve,
        reject,
      };
      this.#unconfirmed.set(entry.sequenceId, entry);
      this.#write(entry);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn || conn.closed) return;
    const requestId = nextId();
    try {
      await conn.request(requestId, {
        type: Type.CLOSE_PRODUCER,
        close_producer: {
          producer_id: this.#producerId,
          request_id: requestId,
        },
      }, 5_000);
    } catch {
      // closing anyway
    }
    conn.removeProducer(this.#producerId);
  }
}

/** Sends to one topic, partitioned or not. */
export class Producer {
  readonly #parts: _PartitionProducer[];
  #turn = 0;

  private constructor(parts: _PartitionProducer[]) {
    this.#parts = parts;
  }

  /**
   * Opens a producer on `topic` (a full topic name).
   *
   * @throws {PulsarError} when the broker refuses it
   */
  static async open(client: PulsarClient, topic: string): Promise<Producer> {
    const partitions = await client.partitions(topic);
    const parts = partitions > 0
      ? Array.from(
        { length: partitions },
        (_, i) => new _PartitionProducer(client, `${topic}-partition-${i}`),
      )
      : [new _PartitionProducer(client, topic)];
    try {
      await Promise.all(parts.map((part) => part.ready));
    } catch (error) {
      await Promise.all(parts.map((part) => part.close()));
      throw error;
    }
    return new Producer(parts);
  }

  /** Sends `message`; resolves once the broker stored it. */
  send(message: OutgoingMessage): Promise<MessageId> {
    const part = this.#parts[this.#turn++ % this.#parts.length]!;
    return part.send(message);
  }

  /** Closes the producer on the broker. */
  async close(): Promise<void> {
    await Promise.all(this.#parts.map((part) => part.close()));
  }
}
