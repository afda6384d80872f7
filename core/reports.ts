/**
 * Reading the json reporter's directory: one `.jsonl` file per minion, each
 * line one event of the typed event map. `minionize status` and
 * `minionize top` both sum these files up, also while minions write them.
 *
 * @module
 */

import type { MinionEvent, PhaseTimings } from "./contracts.ts";
import { ConfigError } from "./errors.ts";
import { readLines } from "./lines.ts";
import { paramText } from "./param.ts";

/** One minion's state, as its report file tells it. */
export interface MinionStatus {
  /** The minion's id. */
  minion: string;
  /** Host name of its machine. */
  host: string;
  /** Its process id. */
  pid: number;
  /** `running`, or `stopped (REASON)` once it said goodbye. */
  state: string;
  /** Params that succeeded. */
  done: number;
  /** Params recorded failed for good. */
  failed: number;
  /** Failed runs that were run again. */
  retried: number;
  /** Params given back unfinished at shutdown. */
  requeued: number;
  /** Params started and not finished, with when they started. */
  inFlight: { param: string; since: string }[];
  /** Its first event's time (ISO 8601). */
  firstSeen: string;
  /** Its last event's time (ISO 8601). */
  lastSeen: string;
  /** Params finished (done or failed) per second over the minion's life. */
  rate: number;
}

/** Mean, median and 95th percentile of one phase, in ms. */
export interface PhaseStats {
  count: number;
  mean: number;
  p50: number;
  p95: number;
}

/** Everything `status` prints. */
export interface StatusReport {
  directory: string;
  minions: MinionStatus[];
  totals: {
    done: number;
    failed: number;
    retried: number;
    requeued: number;
    inFlight: number;
    rate: number;
  };
  phases: Record<keyof PhaseTimings, PhaseStats>;
}

/** The phases of a run, in order. */
export const PHASES: readonly (keyof PhaseTimings)[] = [
  "next",
  "setup",
  "process",
  "teardown",
];

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

function phaseStats(values: number[]): PhaseStats {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    mean: round(sorted.length ? sum / sorted.length : 0),
    p50: round(percentile(sorted, 0.5)),
    p95: round(percentile(sorted, 0.95)),
  };
}

async function readMinion(
  path: string,
  phases: Record<string, number[]>,
): Promise<MinionStatus | undefined> {
  const file = await Deno.open(path);
  let status: MinionStatus | undefined;
  const inFlight = new Map<string, { param: string; since: string }>();
  for await (const line of readLines(file.readable)) {
    let event: MinionEvent;
    try {
      event = JSON.parse(line) as MinionEvent;
    } catch {
      continue; // a line cut short by a killed minion
    }
    status ??= {
      minion: event.minion,
      host: event.host,
      pid: event.pid,
      state: "running",
      done: 0,
      failed: 0,
      retried: 0,
      requeued: 0,
      inFlight: [],
      firstSeen: event.time,
      lastSeen: event.time,
      rate: 0,
    };
    status.lastSeen = event.time;
    if (event.type === "param.started") {
      inFlight.set(`${event.seq}`, {
        param: paramText(event.param),
        since: event.time,
      });
    } else if (event.type === "param.finished") {
      inFlight.delete(`${event.seq}`);
      status[event.outcome]++;
      for (const phase of PHASES) phases[phase]!.push(event.timings[phase]);
    } else if (event.type === "minion.stopped") {
      status.state = `stopped (${event.reason})`;
    }
  }
  if (!status) return undefined;
  status.inFlight = [...inFlight.values()];
  const seconds = (Date.parse(status.lastSeen) - Date.parse(status.firstSeen)) /
    1000;
  status.rate = seconds > 0
    ? Math.round(((status.done + status.failed) / seconds) * 100) / 100
    : 0;
  return status;
}

/**
 * Reads every minion's report file under `directory`.
 *
 * @throws {ConfigError} when the directory cannot be read
 */
export async function readStatus(directory: string): Promise<StatusReport> {
  const phases: Record<string, number[]> = Object.fromEntries(
    PHASES.map((p) => [p, []]),
  );
  const minions: MinionStatus[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (!entry.isFile || !entry.name.endsWith(".jsonl")) continue;
      const status = await readMinion(`${directory}/${entry.name}`, phases);
      if (status) minions.push(status);
    }
  } catch (error) {
    throw new ConfigError(
      "REPORTER_JSON_DIRECTORY",
      `Cannot read reports in '${directory}': ${
        (error as Error).message
      }; run minions with MINION_REPORTER=json, or name their REPORTER_JSON_DIRECTORY`,
      { cause: error },
    );
  }
  minions.sort((a, b) =>
    a.firstSeen.localeCompare(b.firstSeen) || a.minion.localeCompare(b.minion)
  );
  const sum = (pick: (m: MinionStatus) => number) =>
    minions.reduce((total, m) => total + pick(m), 0);
  const first = Math.min(...minions.map((m) => Date.parse(m.firstSeen)));
  const last = Math.max(...minions.map((m) => Date.parse(m.lastSeen)));
  const finished = sum((m) => m.done + m.failed);
  return {
    directory,
    minions,
    totals: {
      done: sum((m) => m.done),
      failed: sum((m) => m.failed),
      retried: sum((m) => m.retried),
      requeued: sum((m) => m.requeued),
      inFlight: sum((m) => m.inFlight.length),
      rate: last > first
        ? Math.round((finished / ((last - first) / 1000)) * 100) / 100
        : 0,
    },
    phases: Object.fromEntries(
      PHASES.map((p) => [p, phaseStats(phases[p]!)]),
    ) as StatusReport["phases"],
  };
}
