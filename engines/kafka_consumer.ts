/**
 * The consuming side of engine `kafka` (see `kafka.ts`): a group member
 * that hands records out, tracks which of each partition are still
 * running, and commits up to the lowest unfinished one about every second.
 *
 * @module
 */

import type * as Kafka from "npm:@platformatic/kafka@2.12.1";
import type { Delivery, Engine } from "../core/contracts.ts";
import { Doorbell } from "./_broker/doorbell.ts";
import { Holdings } from "./_broker/holding.ts";
import { paramFields } from "./_broker/param.ts";
import {
  ATTEMPT,
  ensureTopics,
  HOLD,
  kafka,
  type KafkaRecord,
  type KafkaSettings,
  newProducer,
  partitionKey,
} from "./kafka_client.ts";

/** What this minion knows of one partition it reads. */
interface PartitionState {
  topic: string;
  partition: number;
  /** Offsets handed out and not finished yet. */
  running: Set<bigint>;
  /** One past the highest offset handed out. */
  next: bigint;
  /** The offset last committed. */
  committed: bigint;
  leaderEpoch: number;
}

/**
 * Consumes the topic and its retry topic in the group (a dry run: in a
 * group of its own, from the real group's commits to the ends seen at its
 * start, committing nothing), creating the topics when missing.
 *
 * @throws {ConfigError} when the cluster cannot be reached
 */
export async function consumeTopics(
  settings: KafkaSettings,
  dryRun: boolean,
): Promise<Engine> {
  await ensureTopics(settings, true);
  const topics = [settings.topic, settings.retryTopic];
  const producer = await newProducer(settings);
  // A dry run reads in a group of its own, from the real group's commits,
  // and commits nothing.
  const { Consumer, stringDeserializers } = await kafka();
  const consumer = new Consumer({
    clientId: settings.clientId,
    groupId: dryRun
      ? `${settings.group}.dry-run.${crypto.randomUUID()}`
      : settings.group,
    bootstrapBrokers: settings.brokers,
    deserializers: stringDeserializers,
    sessionTimeout: settings.sessionMs,
    heartbeatInterval: Math.max(100, Math.floor(settings.sessionMs / 5)),
    rebalanceTimeout: Math.max(settings.sessionMs, 10_000),
    maxWaitTime: 1_000,
    retries: true, // reconnect for as long as the minion runs
    retryDelay: 500,
  });

  const dryEnds = dryRun ? await dryRunPlan(settings, consumer) : undefined;
  const stream: Kafka.MessagesStream<string, string, string, string> =
    await consumer
      .consume({
        topics,
        autocommit: false,
        mode: dryEnds ? "manual" : "committed",
        fallbackMode: "earliest",
        highWaterMark: HOLD,
        ...(dryEnds ? { offsets: dryEnds.starts } : {}),
      });

  const partitions = new Map<string, PartitionState>();
  const holdings = new Holdings();
  const bell = new Doorbell();
  let failure: Error | undefined;
  // The partitions this minion reads, once the group said so.
  let mine: Set<string> | undefined;

  // Records are read from the stream as the minion takes them: the stream
  // holds up to HOLD of them and fetches the next ones while those are
  // taken, so that the minion does not wait for a fetch after each batch.
  // (Fetched records are not claimed: a partition is read by one minion
  // anyway, and commits stop below what was handed out.)
  stream.on("readable", () => bell.ring());
  stream.on("error", (error: Error) => {
    failure = error;
    bell.ring();
  });
  // A rebalance: forget partitions that went elsewhere (their unfinished
  // records will run there again) and, as they are read, records fetched
  // for them.
  consumer.on("consumer:group:join", (payload) => {
    const now = new Set<string>();
    for (const { topic, partitions: list } of payload.assignments ?? []) {
      for (const partition of list) now.add(partitionKey(topic, partition));
    }
    // A dry run's group is its own: whatever it re-reads after a rejoin,
    // it has shown already.
    for (const name of dryEnds ? [] : [...partitions.keys()]) {
      if (!now.has(name)) partitions.delete(name);
    }
    mine = now;
  });

  // Commits, per partition, up to the lowest unfinished record.
  let committing: Promise<void> = Promise.resolve();
  const commit = () =>
    committing = committing.then(async () => {
      if (dryEnds) return;
      const offsets = [];
      for (const state of partitions.values()) {
        let low = state.next;
        for (const offset of state.running) if (offset < low) low = offset;
        if (low > state.committed) {
          offsets.push({
            topic: state.topic,
            partition: state.partition,
            offset: low,
            leaderEpoch: state.leaderEpoch,
            state,
          });
        }
      }
      if (offsets.length === 0) return;
      try {
        await consumer.commit({
          offsets: offsets.map(({ state: _, ...offset }) => offset),
        });
        for (const { offset, state } of offsets) state.committed = offset;
      } catch {
        // A rebalance or a lost connection: the next round tries again,
        // and what was not committed runs again elsewhere at worst.
      }
    });
  const timer = setInterval(commit, 1_000);
  // A rebalance is starting: commit what is finished now, so that whoever
  // gets these partitions does not run it again. (Committing a partition
  // that went elsewhere is safe: it only covers records finished here.)
  consumer.on("consumer:group:rebalance", () => void commit());

  const copyTo = async (
    topic: string,
    record: KafkaRecord,
    headers: { [name: string]: string },
  ) => {
    await producer.send({
      messages: [{
        topic,
        value: record.value,
        ...(record.key === undefined ? {} : { key: record.key }),
        headers: { ...Object.fromEntries(record.headers), ...headers },
      }],
    });
  };

  const deliveryOf = (record: KafkaRecord): Delivery | undefined => {
    const name = partitionKey(record.topic, record.partition);
    if (mine && !mine.has(name)) return undefined;
    let state = partitions.get(name);
    if (!state) {
      state = {
        topic: record.topic,
        partition: record.partition,
        running: new Set(),
        next: record.offset,
        committed: -1n,
        leaderEpoch: record.leaderEpoch,
      };
      partitions.set(name, state);
    }
    // After a rebalance the stream reads again from the last commit:
    // records this minion already handed out are not handed out twice.
    if (record.offset < state.next) return undefined;
    state.next = record.offset + 1n;
    state.leaderEpoch = record.leaderEpoch;
    if (!dryEnds) state.running.add(record.offset);
    const owner = state;
    const hold = holdings.take();
    const finish = () => owner.running.delete(record.offset);
    const attempt = Math.max(1, Number(record.headers.get(ATTEMPT) ?? 1) || 1);
    return {
      ...paramFields(record.value ?? "", settings.decoder),
      attempt,
      id: `${name}@${record.offset}`,
      ack: () => hold.settle(finish),
      nack: () =>
        hold.settle(async () => {
          await copyTo(settings.retryTopic, record, {
            [ATTEMPT]: String(attempt + 1),
          });
          finish();
        }),
      release: () =>
        hold.settle(async () => {
          if (dryEnds) return;
          await copyTo(settings.retryTopic, record, {
            [ATTEMPT]: String(attempt),
          });
          finish();
        }),
      fail: (reason) =>
        hold.settle(async () => {
          await copyTo(settings.deadTopic, record, {
            [ATTEMPT]: String(attempt),
            "minion-error": reason.slice(0, 4000),
            "minion-source": `${name}@${record.offset}`,
          });
          finish();
        }),
    };
  };

  /** In a dry run: whether every partition was read to where it ended. */
  const dryDone = () => {
    if (!dryEnds) return false;
    for (const [name, end] of dryEnds.ends) {
      const state = partitions.get(name);
      const start = dryEnds.starts.find((s) =>
        partitionKey(s.topic, s.partition) === name
      )?.offset ?? 0n;
      if ((state?.next ?? start) < end) return false;
    }
    return stream.readableLength === 0;
  };

  let closed = false;
  return {
    name: "kafka",
    redelivers: true,
    async next(signal): Promise<Delivery | undefined> {
      while (true) {
        if (failure) throw failure;
        if (signal.aborted || dryDone()) return undefined;
        const record: KafkaRecord | null = stream.read();
        if (record) {
          const delivery = deliveryOf(record);
          if (delivery) return delivery;
          continue;
        }
        // A dry run ends when it reached the ends seen at its start.
        await bell.wait(signal, dryEnds ? 200 : undefined);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await commit();
      await stream.close().catch(() => {});
      await consumer.close(true).catch(() => {});
      await producer.close().catch(() => {});
    },
  };
}

/**
 * Where a dry run starts (the real group's commits, or the beginning) and
 * where it stops (the ends of the partitions now).
 */
async function dryRunPlan(
  settings: KafkaSettings,
  probe: Kafka.Consumer<string, string, string, string>,
) {
  const { Consumer, stringDeserializers } = await kafka();
  const real = new Consumer({
    clientId: settings.clientId,
    groupId: settings.group,
    bootstrapBrokers: settings.brokers,
    deserializers: stringDeserializers,
  });
  try {
    const topics = [settings.topic, settings.retryTopic];
    const ends = await probe.listOffsets({ topics });
    const earliest = await probe.listOffsets({ topics, timestamp: -2n });
    const committed = await real.listCommittedOffsets({
      topics: [...ends].map(([topic, list]) => ({
        topic,
        partitions: list.map((_, i) => i),
      })),
    });
    const starts: { topic: string; partition: number; offset: bigint }[] = [];
    const endMap = new Map<string, bigint>();
    for (const [topic, list] of ends) {
      list.forEach((end, partition) => {
        const done = committed.get(topic)?.[partition] ?? -1n;
        const first = earliest.get(topic)?.[partition] ?? 0n;
        starts.push({ topic, partition, offset: done >= 0n ? done : first });
        endMap.set(partitionKey(topic, partition), end);
      });
    }
    return { starts, ends: endMap };
  } finally {
    await real.close().catch(() => {});
  }
}
