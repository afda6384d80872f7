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

import { createClient } from "npm:redis@6.3.1";
import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice, readLease } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import {
  decode,
  type Decoder,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../core/param.ts";
import { retryWhile } from "../core/retry.ts";
import { hostname } from "../core/host.ts";

type Client = ReturnType<typeof createClient>;

/** How long one blocking read waits before looking for given-back entries. */
const BLOCK_MS = 1_000;
/** Tasks shorter than this (on average) get the next batch read ahead. */
const SHORT_TASK_MS = 50;
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
/** The field of a stream entry that holds the param's text. */
const FIELD = "param";

interface Settings {
  url: string;
  stream: string;
  group: string;
  consumer: string;
  deadLetter: string;
  decoder: Decoder;
  leaseMs: number;
}

function readSettings(env: Env): Settings {
  const stream = env.REDIS_STREAM?.trim() || "minionize";
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(3)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  return {
    url: env.REDIS_URL?.trim() || "redis://127.0.0.1:6379",
    stream,
    group: env.REDIS_GROUP?.trim() || "minionize",
    consumer: env.REDIS_CONSUMER?.trim() ||
      `${hostname()}-${Deno.pid}-${random}`,
    deadLetter: env.REDIS_DEAD_LETTER?.trim() || `${stream}:failed`,
    decoder: readChoice(env, "REDIS_DECODER", DECODERS, "identity"),
    leaseMs: readLease(env),
  };
}

/** The URL without its password, for messages. */
function _redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

function _message(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return _message(error.errors[0]);
  }
  return error instanceof Error ? error.message || error.name : String(error);
}

/**
 * Connects to `url`. Failing at first is a `ConfigError`; once connected,
 * the client reconnects by itself and queues commands meanwhile.
 */
async function _connect(url: string): Promise<Client> {
  let connected = false;
  const fail = (cause: unknown) =>
    new ConfigError(
      "REDIS_URL",
      `Cannot connect to Redis at REDIS_URL '${_redact(url)}': ${
        _message(cause)
      }; check that redis-server runs there and that the URL's host, port and password are right`,
      { cause },
    );
  let client: Client;
  try {
    client = createClient({
      url,
      // Replies are read as RESP2 arrays, the shape the stream commands
      // document.
      RESP: 2,
      socket: {
        connectTimeout: 5_000,
        reconnectStrategy: (retries: number, cause: Error) =>
          connected ? Math.min(50 * 2 ** retries, 2_000) : cause,
      },
    });
  } catch (error) {
    throw fail(error);
  }
  // Errors while connected are followed by a reconnect; commands wait.
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.destroy();
    throw fail(error);
  }
  connected = true;
  return client;
}

/** Whether `error` means the connection dropped (worth waiting out). */
function _lost(error: unknown): boolean {
  const name = error instanceof Error ? error.constructor.name : "";
  return [
    "SocketClosedUnexpectedlyError",
    "ConnectionTimeoutError",
    "SocketTimeoutError",
    "ClientOfflineError",
    "DisconnectsClientError",
  ].includes(name) || /ECONNRE|EPIPE/.test(_message(error));
}

/** Runs `act`, waiting out a lost connection (see {@linkcode retryWhile}). */
function _patiently<T>(
  act: () => Promise<T>,
  signal: AbortSignal | undefined,
  patienceMs = Infinity,
): Promise<T> {
  return retryWhile(act, _lost, { signal, patienceMs, firstDelayMs: 50 });
}

/** Creates the group (reading from the stream's start) if it is missing. */
async function _ensureGroup(client: Client, settings: Settings): Promise<void> {
  try {
    await client.sendCommand([
      "XGROUP",
      "CREATE",
      settings.stream,
      settings.group,
      "0",
      "MKSTREAM",
    ]);
  } catch (error) {
    if (!_message(error).includes("BUSYGROUP")) throw error;
  }
}

type RawEntry = [string, string[] | null];

interface Entry {
  id: string;
  fields: string[] | null;
  count: number;
}

function _field(fields: string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1];
  }
  return undefined;
}

/** Opens the stream's consumer group for consuming. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readSettings(options.env);
  const { stream, group, consumer, leaseMs } = settings;
  const client = await _connect(settings.url);
  if (options.dryRun) return _dryRun(client, settings);
  await _ensureGroup(client, settings);
  // Blocking reads get their own connection so that acks never wait on them.
  const reader = client.duplicate();
  reader.on("error", () => {});
  await reader.connect();

  const buffer: Entry[] = [];
  let held = 0;
  // A moving average of how long the minion holds an entry.
  let taskMs = Infinity;
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
    const ahead = taskMs < SHORT_TASK_MS ? options.concurrency : 0;
    const free = Math.max(1, options.concurrency + ahead - held);
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
    reading = read.then(
      (entries) => signal.aborted ? giveBack(entries) : undefined,
      () => {},
    );
    let onAbort = () => {};
    const aborted = new Promise<undefined>((resolve) => {
      onAbort = () => resolve(undefined);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      const entries = await Promise.race([read, aborted]);
      if (entries === undefined) return;
      if (entries.length === 0) scanSoon = true;
      buffer.push(...entries);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };

  const deliver = (entry: Entry): Delivery => {
    held++;
    const taken = performance.now();
    let settled = false;
    const settle = async (act: () => Promise<unknown>) => {
      if (settled) return;
      settled = true;
      held--;
      const spent = performance.now() - taken;
      taskMs = taskMs === Infinity ? spent : 0.8 * taskMs + 0.2 * spent;
      await _patiently(act, undefined, leaseMs);
    };
    const text = _field(entry.fields, FIELD);
    const decoded = text === undefined
      ? {
        ok: false as const,
        param: JSON.stringify(entry.fields ?? []),
        error: `entry ${entry.id} has no '${FIELD}' field`,
      }
      : decode(text, settings.decoder);
    const remove = () =>
      client.multi().xAck(stream, group, entry.id).xDel(stream, entry.id)
        .exec();
    return {
      param: decoded.param,
      attempt: entry.count,
      id: entry.id,
      ...(decoded.ok ? {} : { malformed: decoded.error }),
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
              [FIELD]: text ?? decoded.param as string,
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
        if (settled) return;
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
    renewEveryMs: Math.max(100, Math.floor(leaseMs / 3)),
    async next(signal): Promise<Delivery | undefined> {
      while (!signal.aborted) {
        const entry = buffer.shift();
        if (entry) return deliver(entry);
        await _patiently(() => fetch(signal), signal);
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

/** Lists the stream's entries once each, claiming and changing nothing. */
function _dryRun(client: Client, settings: Settings): Engine {
  let after = "-";
  let page: RawEntry[] = [];
  let done = false;
  const noop = () => Promise.resolve();
  return {
    name: "redis",
    redelivers: true,
    async next(signal) {
      while (page.length === 0 && !done && !signal.aborted) {
        page = await client.sendCommand([
          "XRANGE",
          settings.stream,
          after,
          "+",
          "COUNT",
          "100",
        ]) as RawEntry[];
        const last = page.at(-1);
        if (last) after = `(${last[0]}`;
        else done = true;
      }
      const raw = page.shift();
      if (!raw || signal.aborted) return undefined;
      const [id, fields] = raw;
      const text = _field(fields, FIELD) ?? "";
      const decoded = decode(text, settings.decoder);
      return {
        param: decoded.param,
        attempt: 1,
        id,
        ...(decoded.ok ? {} : { malformed: decoded.error }),
        ack: noop,
        nack: noop,
        release: noop,
        fail: noop,
      };
    },
    close() {
      client.destroy();
      return Promise.resolve();
    },
  };
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
  const settings = readSettings(options.env);
  const client = await _connect(settings.url);
  try {
    if (options.create) await _ensureGroup(client, settings);
    let count = 0;
    let batch: Promise<unknown>[] = [];
    for await (const param of params) {
      const text = encode(param, settings.decoder);
      // Commands sent in one tick go out as one pipeline.
      batch.push(client.xAdd(settings.stream, "*", { [FIELD]: text }));
      count++;
      if (batch.length >= 1_000) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    return count;
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
