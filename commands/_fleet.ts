/**
 * Every minion at once, for `minionize top`: what they wrote to the json
 * reporter's directory (which works across hosts on a shared filesystem),
 * what their stats endpoints say, and how big the queue is.
 *
 * @module
 */

import type { Env, QueueCensus } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { ENGINES } from "../runner/registry.ts";
import { type MinionStatus, ReportFollower } from "../core/reports.ts";
import type { StatsSnapshot } from "../core/stats.ts";

/** One minion as `top` shows it. */
export interface FleetMinion {
  /** The minion's id, or the endpoint's URL when it never answered. */
  minion: string;
  host: string;
  pid: number;
  /** `running`, `lost`, `stopped (REASON)` or `unreachable`. */
  state: string;
  /** What it runs now (the oldest param in flight), and how many more. */
  param: string | undefined;
  /** The slot that param runs in, when known. */
  slot: number | undefined;
  /** Params in flight. */
  inFlight: number;
  /** When its oldest param in flight started (ms since the epoch). */
  since: number | undefined;
  done: number;
  failed: number;
  /** Params finished per second over its life. */
  rate: number;
  /** When it last gave a sign of life (ms since the epoch). */
  lastSeen: number;
  /** Where it was read: the reports directory or an endpoint's URL. */
  source: string;
  /** What the queue still holds, as this minion's engine said. */
  remaining?: number | undefined;
  /** The batch job it runs in, when it said. */
  job?: string | undefined;
}

/** Where `top` looks, and when a silent minion counts as lost. */
export interface FleetSources {
  /** The json reporter's directory, if any. */
  directory?: string | undefined;
  /** Skip the directory while it does not exist. @default {false} */
  directoryOptional?: boolean;
  /** Stats endpoints (`http://host:port`), if any. */
  endpoints?: readonly string[];
  /** Settings naming the queue, for its size. */
  env?: Env;
  /** A running minion silent for longer than this is lost, in ms. */
  lostAfterMs: number;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

/** What `top` draws. */
export interface Fleet {
  /** When it was read (ms since the epoch). */
  time: number;
  minions: FleetMinion[];
  /** The queue's size, when the engine can tell. */
  census: QueueCensus | undefined;
}

function fromStatus(
  m: MinionStatus,
  source: string,
  lostAfterMs: number,
  now: number,
): FleetMinion {
  const lastSeen = Date.parse(m.lastSeen);
  const oldest = m.inFlight.map((f) => ({ ...f, at: Date.parse(f.since) }))
    .sort((a, b) => a.at - b.at)[0];
  const lost = m.state === "running" && now - lastSeen > lostAfterMs;
  return {
    minion: m.minion,
    host: m.host,
    pid: m.pid,
    state: lost ? "lost" : m.state,
    param: oldest?.param,
    slot: oldest?.slot,
    inFlight: m.inFlight.length,
    since: oldest?.at,
    done: m.done,
    failed: m.failed,
    rate: m.rate,
    lastSeen,
    source,
    ...(m.job === undefined ? {} : { job: m.job }),
  };
}

/** `http://host:port/stats` for an endpoint given with or without the path. */
export function statsUrl(endpoint: string): string {
  const url = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  return url.replace(/\/+$/, "").replace(/\/(stats|metrics)$/, "") + "/stats";
}

/**
 * Reads the fleet, keeping what endpoints said last so that a minion that
 * stops answering shows as lost rather than vanishing.
 */
export class FleetReader {
  #seen = new Map<string, FleetMinion>();
  #reports: ReportFollower | undefined;

  /** @param sources where to look */
  constructor(readonly sources: FleetSources) {
    if (sources.directory !== undefined) {
      this.#reports = new ReportFollower(sources.directory);
    }
  }

  /**
   * Reads every source once.
   *
   * @throws {ConfigError} when the reports directory cannot be read
   */
  async read(): Promise<Fleet> {
    const { sources } = this;
    const now = (sources.now ?? Date.now)();
    const byId = new Map<string, FleetMinion>();
    if (this.#reports && !(await this.#skipReports())) {
      for (const m of await this.#reports.read()) {
        byId.set(
          m.minion,
          fromStatus(m, this.#reports.directory, sources.lostAfterMs, now),
        );
      }
    }
    const live = await Promise.all(
      (sources.endpoints ?? []).map((e) => this.#ask(e, now)),
    );
    // A live answer knows more than the minion's last report line.
    for (const m of live) byId.set(m.minion, m);
    return {
      time: now,
      minions: [...byId.values()],
      census: await this.#census(),
    };
  }

  /** Whether an optional reports directory is missing (for now). */
  async #skipReports(): Promise<boolean> {
    if (!this.sources.directoryOptional) return false;
    try {
      await Deno.stat(this.#reports!.directory);
      return false;
    } catch (error) {
      // Anything else is for the reader to explain.
      return error instanceof Deno.errors.NotFound;
    }
  }

  async #ask(endpoint: string, now: number): Promise<FleetMinion> {
    const url = statsUrl(endpoint);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const stats = await response.json() as StatsSnapshot;
      // It answered, so it is alive, whatever its clock says.
      const minion = {
        ...fromStatus(stats, url, Infinity, now),
        lastSeen: now,
        remaining: stats.remaining,
      };
      this.#seen.set(url, minion);
      return minion;
    } catch {
      const last = this.#seen.get(url);
      if (last) {
        const silent = now - last.lastSeen > this.sources.lostAfterMs;
        return {
          ...last,
          state: last.state.startsWith("stopped")
            ? last.state
            : silent
            ? "lost"
            : last.state,
          remaining: undefined,
        };
      }
      return {
        minion: url,
        host: "-",
        pid: 0,
        state: "unreachable",
        param: undefined,
        slot: undefined,
        inFlight: 0,
        since: undefined,
        done: 0,
        failed: 0,
        rate: 0,
        lastSeen: Number.NaN,
        source: url,
      };
    }
  }

  async #census(): Promise<QueueCensus | undefined> {
    const env = this.sources.env;
    // The same engine a minion started here would use, default included.
    const name = env?.MINION_ENGINE?.trim() || "execo";
    if (!env || !(name in ENGINES)) return undefined;
    try {
      return await (await ENGINES[name]!()).census?.(env);
    } catch (error) {
      if (error instanceof ConfigError) return undefined;
      throw error;
    }
  }
}

/** Sums of a fleet, with the queue's progress when its size is known. */
export interface FleetTotals {
  minions: number;
  running: number;
  lost: number;
  stopped: number;
  done: number;
  failed: number;
  inFlight: number;
  /** Params finished per second by the minions still running. */
  rate: number;
  /** Params in the queue in all, when known. */
  total: number | undefined;
  /** Params left to finish, when known. */
  left: number | undefined;
}

/** Adds the fleet up. */
export function fleetTotals(fleet: Fleet): FleetTotals {
  const sum = (pick: (m: FleetMinion) => number) =>
    fleet.minions.reduce((total, m) => total + pick(m), 0);
  const done = sum((m) => m.done);
  const failed = sum((m) => m.failed);
  const inFlight = sum((m) => m.state === "running" ? m.inFlight : 0);
  let total = fleet.census?.total;
  let left: number | undefined;
  if (total !== undefined) {
    left = Math.max(0, total - (fleet.census?.finished ?? done + failed));
  } else {
    // Without the queue's size, the minions' own engines may know what is left.
    const remaining = fleet.minions.filter((m) =>
      m.state === "running" && m.remaining !== undefined
    ).map((m) => m.remaining!);
    if (remaining.length > 0) {
      left = Math.min(...remaining) + inFlight;
      total = left + done + failed;
    }
  }
  return {
    minions: fleet.minions.length,
    running: fleet.minions.filter((m) => m.state === "running").length,
    lost: fleet.minions.filter((m) => m.state === "lost").length,
    stopped: fleet.minions.filter((m) => m.state.startsWith("stopped")).length,
    done,
    failed,
    inFlight,
    rate: Math.round(
      sum((m) => m.state === "running" ? m.rate : 0) * 100,
    ) / 100,
    total,
    left,
  };
}
