/**
 * Live statistics of one minion, accumulated from its events: the same typed
 * event map the reporters hear. A {@linkcode MinionStats} is itself a
 * reporter, so the minion feeds it beside the reporter the user chose; the
 * stats server and the progress bar read it.
 *
 * @module
 */

import type { MinionEvent, PhaseTimings, Reporter } from "./contracts.ts";
import { paramText } from "./param.ts";
import { PHASES } from "./report_event.ts";
import type { MinionStatus } from "./reports.ts";
import { formatJob } from "./scheduler_job.ts";

/** Upper bounds of the duration histogram's buckets, in seconds. */
export const BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
  7200,
  14400,
];

/** Timings of one phase over every finished run. */
export interface PhaseSummary {
  /** Runs counted. */
  count: number;
  /** Time spent in all, in ms. */
  sumMs: number;
  /** Mean time, in ms. */
  meanMs: number;
  /** Longest time, in ms. */
  maxMs: number;
}

/** A param this minion runs right now. */
export interface InFlight {
  /** Sequence number of the param in this minion. */
  seq: number;
  /** The param, as text. */
  param: string;
  /** The attempt being run. */
  attempt: number;
  /** The slot it runs in, 1 to the concurrency. */
  slot: number;
  /** When this run began (ISO 8601). */
  since: string;
  /** How long it has run, in ms. */
  ageMs: number;
}

/**
 * What `/stats` serves: a minion's state in the shape `minionize status`
 * reads from reports, plus what only the live minion knows.
 */
export interface StatsSnapshot extends MinionStatus {
  /** The engine's name, once the minion started. */
  engine: string | undefined;
  /** The callback's name, once the minion started. */
  callback: string | undefined;
  /** Params in flight at once, at most. */
  concurrency: number;
  /** Params running now, with their age. */
  inFlight: InFlight[];
  /** Params the queue still holds, when it can tell. */
  remaining: number | undefined;
  /** Per-phase timings of finished runs. */
  phases: Record<keyof PhaseTimings, PhaseSummary>;
}

interface _Histogram {
  counts: number[]; // per bucket, not cumulative; the last is +Inf
  sum: number; // seconds
  count: number;
  max: number; // ms
}

/** Who the stats are about, before its first event arrives. */
export interface StatsIdentity {
  /** The minion's id. */
  minion: string;
  /** Its host name. */
  host: string;
  /** Its process id. */
  pid: number;
}

/** Outcomes, in the order metrics list them. */
const OUTCOMES = ["done", "failed", "retried", "requeued"] as const;

/**
 * Statistics of one minion, fed by its events.
 *
 * @example Count a finished run
 * ```ts
 * import { MinionStats } from "./stats.ts";
 *
 * const stats = new MinionStats({ minion: "m", host: "h", pid: 1 });
 * const base = { time: new Date().toISOString(), minion: "m", host: "h", pid: 1 };
 * stats.report({
 *   type: "param.finished", ...base, seq: 1, param: "a", attempt: 1, slot: 1,
 *   outcome: "done", timings: { next: 1, setup: 0, process: 20, teardown: 0 },
 * });
 * if (stats.snapshot().done !== 1) throw new Error("expected 1 done");
 * ```
 */
export class MinionStats implements Reporter {
  #identity: StatsIdentity;
  #engine: string | undefined;
  #callback: string | undefined;
  #concurrency = 1;
  #state = "starting";
  #job: string | undefined;
  #firstSeen: number;
  #lastSeen: number;
  #counts = { done: 0, failed: 0, retried: 0, requeued: 0 };
  #running = new Map<
    number,
    { param: string; attempt: number; slot: number; at: number }
  >();
  #phases: Record<keyof PhaseTimings, _Histogram>;

  /**
   * Starts empty.
   *
   * @param identity the minion the stats are about
   * @param now the clock, for tests
   */
  constructor(
    identity: StatsIdentity,
    readonly now: () => number = Date.now,
  ) {
    this.#identity = identity;
    this.#firstSeen = this.#lastSeen = now();
    this.#phases = Object.fromEntries(
      PHASES.map((p) => [p, {
        counts: new Array(BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
        max: 0,
      }]),
    ) as unknown as Record<keyof PhaseTimings, _Histogram>;
  }

  /** Takes one event into account. */
  report(event: MinionEvent): void {
    const at = Date.parse(event.time);
    this.#lastSeen = Number.isNaN(at) ? this.now() : at;
    if (event.job) this.#job ??= formatJob(event.job);
    switch (event.type) {
      case "minion.started":
        this.#engine = event.engine;
        this.#callback = event.callback;
        this.#concurrency = event.concurrency;
        this.#state = "running";
        this.#firstSeen = this.#lastSeen;
        break;
      case "param.started":
        this.#running.set(event.seq, {
          param: paramText(event.param),
          attempt: event.attempt,
          slot: event.slot,
          at: this.#lastSeen,
        });
        break;
      case "param.finished":
        this.#running.delete(event.seq);
        this.#counts[event.outcome]++;
        for (const phase of PHASES) {
          this.#observe(this.#phases[phase], event.timings[phase]);
        }
        break;
      case "minion.stopped":
        this.#state = `stopped (${event.reason})`;
        break;
      case "minion.heartbeat":
        break;
    }
  }

  /** Nothing to flush: the stats live as long as the minion. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #observe(histogram: _Histogram, ms: number): void {
    const seconds = ms / 1000;
    let bucket = BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket < 0) bucket = BUCKETS.length;
    histogram.counts[bucket]!++;
    histogram.sum += seconds;
    histogram.count++;
    histogram.max = Math.max(histogram.max, ms);
  }

  /** Params running now. */
  get inFlight(): number {
    return this.#running.size;
  }

  /** Params finished for good (done or failed). */
  get finished(): number {
    return this.#counts.done + this.#counts.failed;
  }

  /**
   * The state now.
   *
   * @param remaining what the queue still holds, when known
   */
  snapshot(remaining?: number): StatsSnapshot {
    const now = this.now();
    const round = (n: number) => Math.round(n * 1000) / 1000;
    const seconds = (now - this.#firstSeen) / 1000;
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      ...this.#identity,
      state: this.#state,
      ...(this.#job === undefined ? {} : { job: this.#job }),
      engine: this.#engine,
      callback: this.#callback,
      concurrency: this.#concurrency,
      ...this.#counts,
      inFlight: [...this.#running].map(([seq, run]) => ({
        seq,
        param: run.param,
        attempt: run.attempt,
        slot: run.slot,
        since: iso(run.at),
        ageMs: Math.max(0, now - run.at),
      })),
      firstSeen: iso(this.#firstSeen),
      // A live minion answering is seen now, whatever it last reported.
      lastSeen: iso(now),
      rate: seconds > 0 ? round(this.finished / seconds) : 0,
      remaining,
      phases: Object.fromEntries(PHASES.map((p) => {
        const h = this.#phases[p];
        return [p, {
          count: h.count,
          sumMs: round(h.sum * 1000),
          meanMs: h.count ? round((h.sum * 1000) / h.count) : 0,
          maxMs: round(h.max),
        }];
      })) as unknown as Record<keyof PhaseTimings, PhaseSummary>,
    };
  }

  /**
   * The stats in the Prometheus text exposition format (version 0.0.4).
   *
   * @param remaining what the queue still holds, when known
   */
  prometheus(remaining?: number): string {
    const id = this.#identity;
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family(
      "minionize_info",
      "gauge",
      "Which minion this is; always 1.",
    );
    lines.push(
      `minionize_info${
        labels({
          minion: id.minion,
          host: id.host,
          pid: String(id.pid),
          engine: this.#engine ?? "",
          callback: this.#callback ?? "",
        })
      } 1`,
    );
    family(
      "minionize_start_time_seconds",
      "gauge",
      "When the minion started, in seconds since the Unix epoch.",
    );
    lines.push(`minionize_start_time_seconds ${this.#firstSeen / 1000}`);
    family(
      "minionize_params_total",
      "counter",
      "Runs of params that ended, by outcome (retried: failed and run again; requeued: given back at shutdown).",
    );
    for (const outcome of OUTCOMES) {
      lines.push(
        `minionize_params_total${labels({ outcome })} ${this.#counts[outcome]}`,
      );
    }
    family(
      "minionize_params_in_flight",
      "gauge",
      "Params running now.",
    );
    lines.push(`minionize_params_in_flight ${this.#running.size}`);
    family(
      "minionize_concurrency",
      "gauge",
      "Params the minion runs at once, at most.",
    );
    lines.push(`minionize_concurrency ${this.#concurrency}`);
    if (remaining !== undefined) {
      family(
        "minionize_queue_remaining",
        "gauge",
        "Params the queue still holds, as the engine sees it.",
      );
      lines.push(`minionize_queue_remaining ${remaining}`);
    }
    family(
      "minionize_phase_duration_seconds",
      "histogram",
      "Time spent per run in each phase: next (waiting for the queue), setup, process (the task), teardown.",
    );
    for (const phase of PHASES) {
      const h = this.#phases[phase];
      let cumulative = 0;
      for (const [index, bound] of BUCKETS.entries()) {
        cumulative += h.counts[index]!;
        lines.push(
          `minionize_phase_duration_seconds_bucket${
            labels({ phase, le: String(bound) })
          } ${cumulative}`,
        );
      }
      lines.push(
        `minionize_phase_duration_seconds_bucket${
          labels({ phase, le: "+Inf" })
        } ${h.count}`,
        `minionize_phase_duration_seconds_sum${labels({ phase })} ${h.sum}`,
        `minionize_phase_duration_seconds_count${labels({ phase })} ${h.count}`,
      );
    }
    return `${lines.join("\n")}\n`;
  }
}

/** `{a="x",b="y"}`, values escaped as the exposition format requires. */
function labels(pairs: Record<string, string>): string {
  const escape = (value: string) =>
    value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${
    Object.entries(pairs).map(([k, v]) => `${k}="${escape(v)}"`).join(",")
  }}`;
}
