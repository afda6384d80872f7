/**
 * Engine `postgres`: params are rows of a queue table in PostgreSQL, claimed
 * with `FOR UPDATE SKIP LOCKED` so that many minions take different rows
 * without waiting on each other.
 *
 * A row goes `todo` → `running` (with an owner and a lease expiry) → `done`
 * or `failed` (with the reason). A running task's lease is renewed every
 * third of `MINION_LEASE`; a row whose lease expired (its minion was killed)
 * is claimed again by any minion. `attempts` counts claims: a failed task's
 * row goes back to `todo` keeping the count, a row given back on SIGTERM
 * has its count lowered again. Rows stay in the table when done, so the
 * table is also the record of the run.
 *
 * Settings: `DATABASE_URL` (default `postgres://localhost:5432/postgres`),
 * `POSTGRES_TABLE` (`minionize_queue`, optionally `schema.table`),
 * `POSTGRES_DECODER` (`identity` or `json`), `MINION_LEASE` (60 seconds).
 *
 * @module
 */

import postgres from "npm:postgres@3.4.9";
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
import { type Decoder, decoderLineFormat, DECODERS } from "../core/param.ts";
import { retryWhile } from "../core/retry.ts";
import { Doorbell } from "./_broker/doorbell.ts";
import { pages, peekingEngine } from "./_broker/dry_run.ts";
import { Holdings, renewEvery } from "./_broker/holding.ts";
import { paramFields } from "./_broker/param.ts";
import { publishInBatches } from "./_broker/publish.ts";
import {
  type BrokerServer,
  connectOrExplain,
  consumerName,
  errorText,
} from "./_broker/server.ts";

type Sql = ReturnType<typeof postgres>;

/** Longest wait for a notification before looking for expired leases. */
const POLL_MS = 1_000;

interface Settings {
  url: string;
  table: string;
  channel: string;
  decoder: Decoder;
  leaseMs: number;
}

function readSettings(env: Env): Settings {
  const table = env.POSTGRES_TABLE?.trim() || "minionize_queue";
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(table)) {
    throw new ConfigError(
      "POSTGRES_TABLE",
      `POSTGRES_TABLE is '${table}': expected a table name of letters, digits and _ (optionally schema.table), e.g. POSTGRES_TABLE=sweep_queue`,
    );
  }
  return {
    url: env.DATABASE_URL?.trim() || "postgres://localhost:5432/postgres",
    table,
    channel: `minionize_${table.replace(".", "_")}`.slice(0, 63),
    decoder: readChoice(env, "POSTGRES_DECODER", DECODERS, "identity"),
    leaseMs: readLease(env),
  };
}

/** `schema.table` as quoted identifiers: names keep their case, as in DDL. */
function _quoted(table: string): string {
  return table.split(".").map((part) => `"${part}"`).join(".");
}

/** Whether `error` means the connection is gone (worth waiting out). */
function _lost(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" &&
    (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"].includes(code) ||
      code.startsWith("CONNECT") || code.startsWith("CONNECTION") ||
      code === "57P01" || code === "57P03");
}

/** Runs `act`, waiting out a lost connection (see {@linkcode retryWhile}). */
function _patiently<T>(
  act: () => Promise<T>,
  signal: AbortSignal | undefined,
  patienceMs = Infinity,
): Promise<T> {
  return retryWhile(act, _lost, { signal, patienceMs, firstDelayMs: 100 });
}

/** Connects and checks the server answers; a `ConfigError` when not. */
function _connect(settings: Settings, max: number): Promise<Sql> {
  const server: BrokerServer = {
    kind: "PostgreSQL",
    variable: "DATABASE_URL",
    address: settings.url,
    fix:
      "check that the server runs there and that the URL's host, port, user, password and database are right",
  };
  return connectOrExplain(server, async () => {
    const sql = postgres(settings.url, {
      max,
      connect_timeout: 5,
      onnotice: () => {},
    });
    try {
      await sql`select 1`;
    } catch (error) {
      await sql.end({ timeout: 0 }).catch(() => {});
      throw error;
    }
    return sql;
  });
}

/** Creates the queue table and its index when missing. */
async function _createTable(sql: Sql, table: string): Promise<void> {
  const name = sql(table);
  try {
    await sql`create table if not exists ${name} (
      id bigserial primary key,
      param text not null,
      state text not null default 'todo'
        check (state in ('todo', 'running', 'done', 'failed')),
      attempts integer not null default 0,
      owner text,
      lease_until timestamptz,
      error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz
    )`;
    await sql`create index if not exists ${
      sql(`${table.replace(".", "_")}_open`)
    } on ${name} (id) where state in ('todo', 'running')`;
  } catch (error) {
    // Two minions creating the table at once: the other one won.
    const code = (error as { code?: string }).code;
    if (code !== "23505" && code !== "42P07") throw error;
  }
}

interface Row {
  id: string;
  param: string;
  attempts: number;
}

/** Opens the queue table for consuming (creating it when missing). */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = readSettings(options.env);
  const { table, leaseMs, channel } = settings;
  const sql = await _connect(settings, Math.max(2, options.concurrency + 1));
  try {
    await _createTable(sql, table);
  } catch (error) {
    await sql.end({ timeout: 0 });
    throw new ConfigError(
      "POSTGRES_TABLE",
      `Cannot create the queue table POSTGRES_TABLE '${table}': ${
        errorText(error)
      }; check the user's rights or create it with 'minionize publish --create'`,
      { cause: error },
    );
  }
  if (options.dryRun) return _dryRun(sql, settings);
  const name = sql(table);
  const owner = consumerName();
  const lease = `${leaseMs} milliseconds`;

  // Woken by publishers and by rows given back, so idle minions need not
  // poll fast.
  const bell = new Doorbell();
  const listening = await sql.listen(channel, () => bell.ring()).catch(() =>
    undefined
  );

  const buffer: Row[] = [];
  const holdings = new Holdings();

  const claim = (count: number) =>
    sql<Row[]>`
      update ${name} set state = 'running', attempts = attempts + 1,
        owner = ${owner}, lease_until = now() + ${lease}::interval,
        updated_at = now()
      where id in (
        select id from ${name}
        where state in ('todo', 'running')
          and (state = 'todo' or lease_until < now())
        order by id
        limit ${count}
        for update skip locked)
      returning id::text, param, attempts`;

  const putBack = (ids: string[], uncount: boolean) =>
    sql`
      with back as (
        update ${name} set state = 'todo', owner = null, lease_until = null,
          attempts = attempts - ${uncount ? 1 : 0}, updated_at = now()
        where id = any(${ids}::bigint[]) and owner = ${owner}
          and state = 'running'
        returning id)
      select pg_notify(${channel}, '') from back limit 1`;

  const deliver = (row: Row): Delivery => {
    const hold = holdings.take();
    const settle = (act: () => Promise<unknown>) =>
      hold.settle(() => _patiently(act, undefined, leaseMs));
    return {
      ...paramFields(row.param, settings.decoder),
      attempt: Math.max(1, row.attempts),
      id: row.id,
      ack: () =>
        settle(() =>
          sql`update ${name} set state = 'done', owner = null,
            lease_until = null, updated_at = now() where id = ${row.id}`
        ),
      nack: () => settle(() => putBack([row.id], false)),
      release: () => settle(() => putBack([row.id], true)),
      fail: (reason) =>
        settle(() =>
          sql`update ${name} set state = 'failed', owner = null,
            lease_until = null, error = ${reason}, updated_at = now()
            where id = ${row.id}`
        ),
      renew: async () => {
        if (hold.settled) return;
        await sql`update ${name}
          set lease_until = now() + ${lease}::interval
          where id = ${row.id} and owner = ${owner} and state = 'running'`;
      },
    };
  };

  return {
    name: "postgres",
    redelivers: true,
    renewEveryMs: renewEvery(leaseMs),
    async next(signal): Promise<Delivery | undefined> {
      while (!signal.aborted) {
        const row = buffer.shift();
        if (row) return deliver(row);
        const free = Math.max(1, options.concurrency - holdings.held);
        const rows = await _patiently(() => claim(free), signal);
        if (rows.length > 0) buffer.push(...rows);
        else await bell.wait(signal, POLL_MS);
      }
      const left = buffer.splice(0).map((row) => row.id);
      if (left.length > 0) await putBack(left, true);
      return undefined;
    },
    async remaining() {
      const [row] = await sql<{ count: string }[]>`
        select count(*)::text as count from ${name}
        where state in ('todo', 'running')`;
      return row ? Number(row.count) : undefined;
    },
    async close() {
      try {
        const left = buffer.splice(0).map((row) => row.id);
        if (left.length > 0) await putBack(left, true);
        await listening?.unlisten();
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

/** Lists open rows once each, claiming and changing nothing. */
function _dryRun(sql: Sql, settings: Settings): Engine {
  const name = sql(settings.table);
  const rows = pages(async (after) => {
    const page = await sql<Row[]>`
      select id::text, param, attempts from ${name}
      where state in ('todo', 'running') and id > ${after ?? "0"}::bigint
      order by id limit 100`;
    return {
      items: page.map((row) => ({
        id: row.id,
        text: row.param,
        attempt: row.attempts,
      })),
      after: page.at(-1)?.id ?? "0",
    };
  });
  return peekingEngine(
    "postgres",
    rows,
    settings.decoder,
    () => sql.end({ timeout: 5 }),
  );
}

/**
 * Inserts params as `todo` rows: strings as they are under the `identity`
 * decoder, anything else (and everything under `json`) as JSON text. With
 * `create`, creates the table first; without, a missing table is an error.
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = readSettings(options.env);
  const sql = await _connect(settings, 1);
  try {
    if (options.create) await _createTable(sql, settings.table);
    const [found] = await sql<{ found: string | null }[]>`
      select to_regclass(${_quoted(settings.table)})::text as found`;
    if (!found?.found) {
      throw new ConfigError(
        "POSTGRES_TABLE",
        `Cannot publish: the table POSTGRES_TABLE '${settings.table}' does not exist; add --create to create it`,
      );
    }
    const name = sql(settings.table);
    return await publishInBatches(params, {
      decoder: settings.decoder,
      flush: async (texts) => {
        await sql`insert into ${name} ${
          sql(texts.map((param) => ({ param })), "param")
        }`;
        await sql`select pg_notify(${settings.channel}, '')`;
      },
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The `postgres` engine plug-in (a queue table in PostgreSQL). */
export const postgresEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("POSTGRES_DECODER"),
};
