/**
 * The consumer of one partition (or of a topic that is not partitioned):
 * its subscription, flow permits, settling and reconnects. `Consumer`
 * (`consumer.ts`) joins the partitions' consumers into one queue.
 *
 * Messages that another client sent as one batch arrive as one entry and are
 * unpacked here and tracked one by one: the entry is acknowledged once all
 * of its messages are, and it is given back for redelivery only once none
 * is still running, so a failed message does not drag its settled
 * neighbours along. Messages of a redelivered entry that were already
 * acknowledged are skipped (remembered here, and also told by the broker
 * when it keeps batch-index acknowledgements).
 *
 * A lost connection or a consumer closed by the broker is reopened with
 * backoff (lookup again, subscribe again).
 *
 * @module
 */

import { backoffMs, type PulsarClient, sleep } from "./pulsar_client.ts";
import { type MessageId, SubType, Type } from "./commands.ts";
import {
  ackSet,
  decompress,
  properties,
  stillUnacked,
  unbatch,
} from "./batch.ts";
import { type Connection, nextId, PulsarError } from "./connection.ts";
import type { Frame } from "./framing.ts";

/** A message handed to the application. */
export interface Message {
  /** The partition topic it came from. */
  readonly topic: string;
  /** Where it is stored; `batch_index` set for a message of a batch. */
  readonly id: MessageId;
  /** The message's bytes (uncompressed, unbatched). */
  readonly payload: Uint8Array;
  /** The properties its producer set. */
  readonly properties: Record<string, string>;
  /** How many times the broker redelivered it before (0 the first time). */
  readonly redeliveryCount: number;
  /** Set when the message cannot be read (unknown compression, ...). */
  readonly unreadable?: string;
}

/** How a consumer subscribes. */
export interface ConsumerOptions {
  /** Full topic name. */
  topic: string;
  /** Subscription name, shared by the consumers that split the messages. */
  subscription: string;
  /** Messages held at once (per partition). */
  permits: number;
  /** Acknowledge messages of a batch one by one on the broker (needs
   * `acknowledgmentAtBatchIndexLevelEnabled` there). @default {false} */
  batchIndexAck?: boolean;
  /** Shown in the broker's stats. */
  consumerName?: string;
  /**
   * Told when the consumer keeps failing to reconnect (every tenth try);
   * it goes on trying.
   * @default {nothing is told}
   */
  warn?: (message: string) => void;
}

/** One stored entry: a single message, or a batch of them. */
interface Entry {
  key: string;
  ledgerId: number;
  entryId: number;
  size: number;
  /** Messages handed out and not settled yet. */
  open: number;
  acked: Set<number>;
  nacked: boolean;
  /** The subscription generation it was received under. */
  epoch: number;
}

/** A handed-out message, as its partition consumer tracks it. */
export interface Held {
  part: PartitionConsumer;
  entry: Entry;
  index: number;
}

/** At most this many acks wait to leave together. */
const MAX_GROUPED_ACKS = 1000;

/** Subscribes to one partition and feeds `deliver`. */
export class PartitionConsumer {
  readonly topic: string;
  readonly #client: PulsarClient;
  readonly #options: ConsumerOptions;
  readonly #deliver: (message: Message, held: Held) => void;
  readonly #dropQueued: (part: PartitionConsumer) => void;
  #consumerId = nextId();
  #conn: Connection | undefined;
  #epoch = 0;
  #closed = false;
  #owed = 0;
  #ready: Promise<void>;
  /** Entries with messages out or waiting, by `ledger:entry`. */
  readonly #entries = new Map<string, Entry>();
  /** Indexes acked in batches that are not wholly acked yet. */
  readonly #ackedInBatches = new Map<string, Set<number>>();
  /** Acks not sent yet, and the timer that sends them. */
  #acks: MessageId[] = [];
  #ackTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    client: PulsarClient,
    topic: string,
    options: ConsumerOptions,
    deliver: (message: Message, held: Held) => void,
    dropQueued: (part: PartitionConsumer) => void,
  ) {
    this.#client = client;
    this.topic = topic;
    this.#options = options;
    this.#deliver = deliver;
    this.#dropQueued = dropQueued;
    this.#ready = this.#subscribe();
  }

  get ready(): Promise<void> {
    return this.#ready;
  }

  async #subscribe(): Promise<void> {
    const conn = await this.#client.lookup(this.topic);
    const consumerId = nextId();
    const epoch = ++this.#epoch;
    conn.addConsumer(consumerId, {
      onMessage: (frame) => this.#onMessage(frame, epoch),
      onClose: (reason) => this.#resubscribe(reason, epoch),
    });
    const requestId = nextId();
    try {
      await conn.request(requestId, {
        type: Type.SUBSCRIBE,
        subscribe: {
          topic: this.topic,
          subscription: this.#options.subscription,
          subType: SubType.Shared,
          consumer_id: consumerId,
          request_id: requestId,
          ...(this.#options.consumerName
            ? { consumer_name: this.#options.consumerName }
            : {}),
          durable: true,
          // A new subscription starts at the oldest message: params
          // published before the first minion came are work too.
          initialPosition: 1,
          force_topic_creation: true,
        },
      });
    } catch (error) {
      conn.removeConsumer(consumerId);
      throw error;
    }
    this.#consumerId = consumerId;
    this.#conn = conn;
    this.#owed = 0;
    this.#flow(this.#options.permits);
  }

  #resubscribe(reason: string, epoch: number) {
    if (this.#closed || epoch !== this.#epoch) return;
    this.#conn = undefined;
    // Messages not handed out yet will come again from the broker.
    this.#dropQueued(this);
    for (const [key, entry] of this.#entries) {
      if (entry.open === 0) this.#entries.delete(key);
    }
    this.#ready = (async () => {
      for (let attempt = 0; !this.#closed; attempt++) {
        await sleep(backoffMs(attempt));
        if (this.#closed) return;
        try {
          await this.#subscribe();
          return;
        } catch (error) {
          if (error instanceof PulsarError && attempt % 10 === 9) {
            this.#options.warn?.(
              `still reconnecting to Pulsar topic '${this.topic}' (${reason}): ${error.message}`,
            );
          }
        }
      }
    })();
  }

  /** Gives permits back, in batches of half the window (as other clients
   * do) so a busy consumer does not send one FLOW per message. */
  #giveBack(permits: number) {
    this.#owed += permits;
    if (this.#owed >= Math.ceil(this.#options.permits / 2)) {
      const owed = this.#owed;
      this.#owed = 0;
      this.#flow(owed);
    }
  }

  #flow(permits: number) {
    this.#flushAcks();
    if (permits <= 0) return;
    this.#conn?.send({
      type: Type.FLOW,
      flow: { consumer_id: this.#consumerId, messagePermits: permits },
    });
  }

  #onMessage(frame: Frame, epoch: number) {
    if (epoch !== this.#epoch) return;
    const { message } = frame.command;
    const id: MessageId = message.message_id;
    const metadata = frame.metadata!;
    const redeliveryCount = message.redelivery_count ?? 0;
    const key = `${id.ledgerId}:${id.entryId}`;
    // Only batches carry the count, even a batch of one.
    const batched = metadata.num_messages_in_batch !== undefined;
    const base = {
      ledgerId: id.ledgerId,
      entryId: id.entryId,
      ...(id.partition !== undefined && id.partition >= 0
        ? { partition: id.partition }
        : {}),
    };
    let payload = frame.payload ?? new Uint8Array(0);
    let unreadable: string | undefined;
    if (frame.checksumOk === false) {
      unreadable = "its checksum does not match its contents";
    } else {
      try {
        payload = decompress(payload, metadata);
      } catch (error) {
        unreadable = (error as Error).message;
      }
    }
    const size = batched ? metadata.num_messages_in_batch! : 1;
    const entry: Entry = this.#entries.get(key) ?? {
      key,
      ledgerId: id.ledgerId,
      entryId: id.entryId,
      size,
      open: 0,
      acked: new Set(this.#ackedInBatches.get(key) ?? []),
      nacked: false,
      epoch,
    };
    entry.epoch = epoch;
    entry.nacked = false;
    this.#entries.set(key, entry);
    if (!batched || unreadable) {
      entry.open++;
      this.#deliver({
        topic: this.topic,
        id: base,
        payload,
        properties: properties(metadata.properties),
        redeliveryCount,
        ...(unreadable ? { unreadable } : {}),
      }, { part: this, entry, index: -1 });
      if (unreadable) entry.size = 1;
      return;
    }
    const messages = unbatch(payload, size);
    let skipped = 0;
    for (let index = 0; index < size; index++) {
      const single = messages[index];
      if (
        !single || single.compacted || entry.acked.has(index) ||
        !stillUnacked(message.ack_set, index)
      ) {
        entry.acked.add(index);
        skipped++;
        continue;
      }
      entry.open++;
      this.#deliver({
        topic: this.topic,
        id: { ...base, batch_index: index, batch_size: size },
        payload: single.payload,
        properties: single.properties,
        redeliveryCount,
      }, { part: this, entry, index });
    }
    this.#giveBack(skipped);
    this.#maybeFinish(entry);
  }

  /** Settles a held message: `ack`, `nack` (redeliver) or `hold` (give the
   * permit back, keep it unacked until close). */
  settle(held: Held, how: "ack" | "nack" | "hold"): void {
    const { entry, index } = held;
    entry.open--;
    if (how === "ack") {
      entry.acked.add(index < 0 ? 0 : index);
      if (index >= 0 && entry.acked.size < entry.size) {
        this.#ackedInBatches.set(entry.key, new Set(entry.acked));
        if (this.#options.batchIndexAck) {
          this.#ack({
            ledgerId: entry.ledgerId,
            entryId: entry.entryId,
            ack_set: ackSet(entry.size, entry.acked),
            batch_size: entry.size,
          });
        }
      }
    } else if (how === "nack") {
      entry.nacked = true;
    }
    if (entry.epoch === this.#epoch) this.#giveBack(1);
    this.#maybeFinish(entry);
  }

  /** A queued message dropped on reconnect: the broker sends it again. */
  forget(held: Held): void {
    held.entry.open--;
    if (
      held.entry.open === 0 && this.#entries.get(held.entry.key) === held.entry
    ) {
      this.#entries.delete(held.entry.key);
    }
  }

  #maybeFinish(entry: Entry) {
    if (entry.open > 0) return;
    if (entry.acked.size >= entry.size) {
      this.#entries.delete(entry.key);
      this.#ackedInBatches.delete(entry.key);
      this.#ack({ ledgerId: entry.ledgerId, entryId: entry.entryId });
    } else if (entry.nacked) {
      this.#entries.delete(entry.key);
      this.#conn?.send({
        type: Type.REDELIVER_UNACKNOWLEDGED_MESSAGES,
        redeliverUnacknowledgedMessages: {
          consumer_id: this.#consumerId,
          message_ids: [{ ledgerId: entry.ledgerId, entryId: entry.entryId }],
        },
      });
    }
  }

  // Acks settled in one turn of the event loop (a burst of short tasks
  // fed from one read) leave together, in one ACK command: the broker
  // spends far less on one command of many ids than on many of one. Other
  // clients hold theirs for 100 ms; a turn is short enough that a minion
  // killed right after a run has almost surely sent its ack. They also
  // leave with permits given back, and before the consumer closes.
  #ack(id: MessageId) {
    if (this.#closed) return;
    this.#acks.push(id);
    if (this.#acks.length >= MAX_GROUPED_ACKS) this.#flushAcks();
    else {
      this.#ackTimer ??= setTimeout(() => this.#flushAcks(), 0);
    }
  }

  #flushAcks() {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const conn = this.#conn;
    // Without a connection they wait for the next one: a message id is the
    // subscription's, whichever consumer acks it.
    if (this.#acks.length === 0 || !conn) return;
    const ids = this.#acks;
    this.#acks = [];
    conn.send({
      type: Type.ACK,
      ack: { consumer_id: this.#consumerId, ack_type: 0, message_id: ids },
    });
  }

  async close(): Promise<void> {
    this.#flushAcks();
    clearTimeout(this.#ackTimer);
    this.#closed = true;
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn || conn.closed) return;
    const requestId = nextId();
    try {
      await conn.request(requestId, {
        type: Type.CLOSE_CONSUMER,
        close_consumer: {
          consumer_id: this.#consumerId,
          request_id: requestId,
        },
      }, 5_000);
    } catch {
      // the broker gives the messages back when the connection goes too
    }
    conn.removeConsumer(this.#consumerId);
  }
}
