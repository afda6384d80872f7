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
import { asEvent, PHASES } from "./report_event.ts";
import { formatJob } from "./scheduler_job.ts";
import {
  isOriginalReport,
  ORIGINAL_STATE,
  originalEvents,
} from "./reports_original.ts";

/** Whether a file of the report directory is a minion's report (ours or the original's). */
function isReport(name: string): boolean {
  return name.endsWith(".jsonl") || isOriginalReport(name);
}

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
  /**
   * Params started and not finished, with when they started and the slot
   * they run in (absent in reports of older minions).
   */
  inFlight: { param: string; since: string; slot?: number }[];
  /** Its first event's time (ISO 8601). */
  firstSeen: string;
  /** Its last event's time (ISO 8601). */
  lastSeen: string;
  /** Params finished (done or failed) per second over the minion's life. */
  rate: number;
  /** The batch job it runs in (`slurm 120_4 (124)`), when it said. */
  job?: string;
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

/** One minion's status, built up one event at a time. */
class _Minion {
  #status: MinionStatus | undefined;
  #inFlight = new Map<
    number,
    { param: string; since: string; slot?: number }
  >();

  /** Whether the file is the original Python minionize's. */
  constructor(readonly original = false) {}

  /**
   * Takes one line of its report file; a torn line, or any line that is not
   * a minion event, is skipped.
   */
  add(
    line: string,
    phases?: Record<string, number[]>,
    onEvent?: (event: MinionEvent) => void,
  ): void {
    if (this.original) {
      let events: MinionEvent[];
      try {
        events = originalEvents(line);
      } catch {
        return; // a line of the original's shape with values it never wrote
      }
      for (const event of events) {
        const checked = asEvent(event);
        if (checked !== undefined) this.#take(checked, phases, onEvent);
      }
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return; // a line cut short by a killed minion
    }
    const event = asEvent(parsed);
    if (event === undefined) return; // someone else's JSON in the directory
    this.#take(event, phases, onEvent);
  }

  #take(
    event: MinionEvent,
    phases?: Record<string, number[]>,
    onEvent?: (event: MinionEvent) => void,
  ): void {
    onEvent?.(event);
    const status = this.#status ??= {
      minion: event.minion,
      host: event.host,
      pid: event.pid,
      state: this.original ? ORIGINAL_STATE : "running",
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
    if (event.job && status.job === undefined) {
      status.job = formatJob(event.job);
    }
    if (event.type === "param.started") {
      this.#inFlight.set(event.seq, {
        param: paramText(event.param),
        since: event.time,
        ...(event.slot === undefined ? {} : { slot: event.slot }),
      });
    } else if (event.type === "param.finished") {
      this.#inFlight.delete(event.seq);
      status[event.outcome]++;
      if (phases) {
        for (const phase of PHASES) phases[phase]!.push(event.timings[phase]);
      }
    } else if (event.type === "minion.stopped") {
      status.state = `stopped (${event.reason})`;
    }
  }

  /** The status so far, or `undefined` before its first event. */
  status(): MinionStatus | undefined {
    const status = this.#status;
    if (!status) return undefined;
    const seconds =
      (Date.parse(status.lastSeen) - Date.parse(status.firstSeen)) / 1000;
    return {
      ...status,
      inFlight: [...this.#inFlight.values()],
      rate: seconds > 0
        ? Math.round(((status.done + status.failed) / seconds) * 100) / 100
        : 0,
    };
  }
}

async function readMinion(
  path: string,
  phases: Record<string, number[]>,
  onEvent?: (event: MinionEvent) => void,
): Promise<MinionStatus | undefined> {
  const file = await Deno.open(path);
  const minion = new _Minion(
    isOriginalReport(path.slice(path.lastIndexOf("/") + 1)),
  );
  for await (const line of readLines(file.readable)) {
    minion.add(line, phases, onEvent);
  }
  return minion.status();
}

function unreadable(directory: string, error: unknown): ConfigError {
  return new ConfigError(
    "REPORTER_JSON_DIRECTORY",
    `Cannot read reports in '${directory}': ${
      (error as Error).message
    }; run minions with MINION_REPORTER=json, or name their REPORTER_JSON_DIRECTORY`,
    { cause: error },
  );
}

interface _Tail {
  offset: number;
  rest: string;
  decoder: TextDecoder;
  minion: _Minion;
}

/**
 * Follows the report files of a directory, reading at each call only what
 * was appended since the last: `minionize top` refreshes every second over
 * hundreds of growing files.
 */
export class ReportFollower {
  #tails = new Map<string, _Tail>();

  /** @param directory the json reporter's directory */
  constructor(readonly directory: string) {}

  /**
   * Every minion's status now, in no particular order.
   *
   * @throws {ConfigError} when the directory cannot be read
   */
  async read(): Promise<MinionStatus[]> {
    const names = new Set<string>();
    try {
      for await (const entry of Deno.readDir(this.directory)) {
        if (entry.isFile && isReport(entry.name)) {
          names.add(entry.name);
        }
      }
    } catch (error) {
      throw unreadable(this.directory, error);
    }
    for (const name of this.#tails.keys()) {
      if (!names.has(name)) this.#tails.delete(name);
    }
    const minions: MinionStatus[] = [];
    for (const name of names) {
      const status = this.#follow(name);
      if (status) minions.push(status);
    }
    return minions;
  }

  #follow(name: string): MinionStatus | undefined {
    const fresh = (): _Tail => ({
      offset: 0,
      rest: "",
      decoder: new TextDecoder(),
      minion: new _Minion(isOriginalReport(name)),
    });
    let tail = this.#tails.get(name) ?? fresh();
    // Synchronous calls: hundreds of small reads per refresh, where the
    // promise of each asynchronous call costs more than the read itself.
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${this.directory}/${name}`);
    } catch {
      return tail.minion.status(); // removed meanwhile
    }
    try {
      const { size } = file.statSync();
      if (size < tail.offset) tail = fresh(); // replaced by a shorter file
      this.#tails.set(name, tail);
      if (size === tail.offset) return tail.minion.status();
      file.seekSync(tail.offset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(size - tail.offset);
      let filled = 0;
      while (filled < buffer.length) {
        const n = file.readSync(buffer.subarray(filled));
        if (n === null) break;
        filled += n;
      }
      tail.offset += filled;
      const text = tail.rest +
        tail.decoder.decode(buffer.subarray(0, filled), { stream: true });
      const lines = text.split("\n");
      // The last piece may be a line still being written: keep it for later.
      tail.rest = lines.pop()!;
      for (const line of lines) tail.minion.add(line.replace(/\r$/, ""));
      return tail.minion.status();
    } finally {
      file.close();
    }
  }
}

/** How {@linkcode readStatus} reads. */
export interface ReadStatusOptions {
  /** Hears every event read, e.g. to draw pictures. @default {nobody} */
  onEvent?: (event: MinionEvent) => void;
}

/**
 * Reads every minion's report file under `directory`.
 *
 * @throws {ConfigError} when the directory cannot be read
 */
export async function readStatus(
  directory: string,
  options: ReadStatusOptions = {},
): Promise<StatusReport> {
  const phases: Record<string, number[]> = Object.fromEntries(
    PHASES.map((p) => [p, []]),
  );
  const minions: MinionStatus[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (!entry.isFile || !isReport(entry.name)) continue;
      const status = await readMinion(
        `${directory}/${entry.name}`,
        phases,
        options.onEvent,
      );
      if (status) minions.push(status);
    }
  } catch (error) {
    throw unreadable(directory, error);
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
