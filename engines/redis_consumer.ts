/**
 * The consuming side of engine `redis` (see `redis.ts`): a consumer group
 * member that reads new entries, claims those idle for the lease (given
 * back, or held by a dead minion), and settles each entry it hands out.
 *
 * @module
 */

import type { Delivery, Engine } from "../core/contracts.ts";
import { abortable } from "../core/async.ts";
import { paramFields } from "./_broker/param.ts";
import { Holdings, renewEvery } from "./_broker/holding.ts";
import {
  FIELD,
  fieldOf,
  patiently,
  type RawEntry,
  type RedisClient,
  type RedisSettings,
} from "./redis_client.ts";

/** How long one blocking read waits before looking for given-back entries. */
const BLOCK_MS = 1_000;
/**
 * `XCLAIM KEYS[1] group consumer 0 id [options...] JUSTID` if `consumer`
 * holds the entry (ARGV: group, consumer, id, options...); returns 1 when
 * it did, 0 when not.
 */
const RECLAIM = `
local held = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #held == 0 then return 0 end
local args = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', ARGV[3]}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
args[#args + 1] = 'JUSTID'
redis.call(unpack(args))
return 1
`;

interface Entry {
  id: string;
  fields: string[] | null;
  count: number;
}

/**
 * Consumes the stream as member `settings.consumer` of the group, holding
 * about `concurrency` entries (a batch more while tasks are short).
 *
 * @param client a connected client, closed with the engine
 * @param settings the stream, group and lease
 * @param concurrency the minion's `-j`
 */
export async function consumeStream(
  client: RedisClient,
  settings: RedisSettings,
  concurrency: number,
): Promise<Engine> {
  const { stream, group, consumer, leaseMs } = settings;
  // Blocking reads get their own connection so that acks never wait on them.
  const reader = client.duplicate();
  reader.on("error", () => {});
  await reader.connect();

  const buffer: Entry[] = [];
  const holdings = new Holdings();
  let cursor = "0-0";
  let lastScan = 0;
  let scanSoon = true;
  const scanEveryMs = Math.min(leaseMs / 2, 5_000);
  let reading: Promise<unknown> = Promise.resolve();

  // XCLAIM an entry only while this consumer holds it: after a pause
  // longer than the lease another minion may have claimed it, and taking
  // it back would run it twice more. Resolves whether it was still ours.
  const reclaim = async (id: string, ...options: string[]) =>
    await client.sendCommand<number>([
      "EVAL",
      RECLAIM,
      "1",
      stream,
      group,
      consumer,
      id,
      ...options,
    ]) === 1;

  const pushIdle = (id: string, count: number) =>
    reclaim(
      id,
      "IDLE",
      String(leaseMs),
      "RETRYCOUNT",
      String(Math.max(0, count)),
    );

  // Entries taken but not handed out go back without using an attempt.
  const giveBack = async (entries: Entry[]) => {
    await Promise.all(
      entries.map((entry) => pushIdle(entry.id, entry.count - 1)),
    );
    if (entries.length > 0) scanSoon = true;
  };

  // Entries idle for the lease: dead minions' and given-back ones.
  const claim = async (count: number): Promise<Entry[]> => {
    const reply = await client.sendCommand([
      "XAUTOCLAIM",
      stream,
      group,
      consumer,
      String(leaseMs),
      cursor,
      "COUNT",
      String(count),
    ]) as [string, RawEntry[], string[]?];
    cursor = reply[0];
    const raw = reply[1].filter(([, fields]) => fields !== null);
    const counts = await Promise.all(raw.map(async ([id]) => {
      const pending = await client.sendCommand([
        "XPENDING",
        stream,
        group,
        id,
        id,
        "1",
      ]) as [string, string, number, number][];
      return pending[0]?.[3] ?? 1;
    }));
    return raw.map(([id, fields], i) => ({ id, fields, count: counts[i]! }));
  };

  const readNew = (count: number): Promise<Entry[]> =>
    reader.sendCommand([
      "XREADGROUP",
      "GROUP",
      group,
      consumer,
      "COUNT",
      String(count),
      "BLOCK",
      String(BLOCK_MS),
      "STREAMS",
      stream,
      ">",
    ]).then((reply) => {
      const streams = reply as unknown as [string, RawEntry[]][] | null;
      return (streams?.[0]?.[1] ?? []).map(([id, fields]) => ({
        id,
        fields,
        count: 1,
      }));
    });

  const fetch = async (signal: AbortSignal): Promise<void> => {
    // Short tasks: read a batch ahead, so that entries come in fewer round
    // trips (they wait a few ms at most). Long tasks: only what the free
    // slots can run, so a busy minion never sits on entries.
    const ahead = holdings.short ? concurrency : 0;
    const free = Math.max(1, concurrency + ahead - holdings.held);
    const now = Date.now();
    if (scanSoon || now - lastScan >= scanEveryMs) {
      lastScan = now;
      scanSoon = false;
      const claimed = await claim(free);
      if (cursor !== "0-0") scanSoon = true;
      if (claimed.length > 0) {
        buffer.push(...claimed);
        return;
      }
    }
    const read = readNew(free);
    // What a read given up on brings goes back at once.
    reading = read.then(
      (entries) => signal.aborted ? giveBack(entries) : undefined,
      () => {},
    );
    let entries: Entry[];
    try {
      entries = await abortable(read, signal);
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
    if (entries.length === 0) scanSoon = true;
    buffer.push(...entries);
  };

  const deliver = (entry: Entry): Delivery => {
    const hold = holdings.take();
    const settle = (act: () => Promise<unknown>) =>
      hold.settle(() => patiently(act, undefined, leaseMs));
    const text = fieldOf(entry.fields, FIELD);
    const fields = text === undefined
      ? {
        param: JSON.stringify(entry.fields ?? []),
        malformed: `entry ${entry.id} has no '${FIELD}' field`,
      }
      : paramFields(text, settings.decoder);
    const remove = () =>
      client.multi().xAck(stream, group, entry.id).xDel(stream, entry.id)
        .exec();
    return {
      ...fields,
      attempt: entry.count,
      id: entry.id,
      ack: () => settle(remove),
      nack: () =>
        settle(async () => {
          await pushIdle(entry.id, entry.count);
          scanSoon = true;
        }),
      release: () => settle(() => giveBack([entry])),
      fail: (reason) =>
        settle(() =>
          client.multi()
            .xAdd(settings.deadLetter, "*", {
              [FIELD]: text ?? fields.param as string,
              reason,
              stream,
              id: entry.id,
              attempts: String(entry.count),
            })
            .xAck(stream, group, entry.id)
            .xDel(stream, entry.id)
            .exec()
        ),
      renew: async () => {
        if (hold.settled) return;
        if (!(await reclaim(entry.id))) {
          throw new Error(
            `entry ${entry.id} was claimed by another minion after going unrenewed for MINION_LEASE (${
              leaseMs / 1000
            }s)`,
          );
        }
      },
    };
  };

  return {
    name: "redis",
    redelivers: true,
    renewEveryMs: renewEvery(leaseMs),
    async next(signal): Promise<Delivery | undefined> {
      while (!signal.aborted) {
        const entry = buffer.shift();
        if (entry) return deliver(entry);
        await patiently(() => fetch(signal), signal);
      }
      await giveBack(buffer.splice(0));
      return undefined;
    },
    async remaining() {
      const groups = await client.sendCommand<unknown[][]>([
        "XINFO",
        "GROUPS",
        stream,
      ]);
      for (const info of groups) {
        const map = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < info.length; i += 2) {
          map.set(info[i], info[i + 1]);
        }
        if (map.get("name") !== group) continue;
        const lag = map.get("lag");
        const pending = map.get("pending");
        return typeof lag === "number" && typeof pending === "number"
          ? lag + pending
          : undefined;
      }
      return undefined;
    },
    async close() {
      await reading;
      await giveBack(buffer.splice(0)).catch(() => {});
      reader.destroy();
      try {
        // A consumer with nothing pending leaves no trace in the group.
        const mine = await client.sendCommand([
          "XPENDING",
          stream,
          group,
          "-",
          "+",
          "1",
          consumer,
        ]) as unknown[];
        if (mine.length === 0) {
          await client.sendCommand([
            "XGROUP",
            "DELCONSUMER",
            stream,
            group,
            consumer,
          ]);
        }
      } finally {
        client.destroy();
      }
    },
  };
}
