/**
 * The pictures of `minionize status`, drawn in the terminal from the json
 * reports: params finished per second over time (sliding windows) with the
 * failed runs beneath, the distribution of each phase's durations, the
 * failed runs by cause and, on request, the rate of each minion. Every line
 * fits in 80 columns; colour only when asked (a terminal).
 *
 * @module
 */

import { barRows, columnChart, sparkRow } from "./_chart.ts";
import type { MinionEvent, Outcome, PhaseTimings } from "../core/contracts.ts";
import { PHASES } from "../core/report_event.ts";

/** One finished run, as the pictures need it. */
export interface Run {
  /** When it finished, in ms since the epoch. */
  time: number;
  minion: string;
  outcome: Outcome;
  timings: PhaseTimings;
  error?: string | undefined;
  exitCode?: number | undefined;
  signal?: string | undefined;
}

/** What the pictures are drawn from, gathered one event at a time. */
export class History {
  /** Every run that ended (requeued ones included), in no order. */
  readonly runs: Run[] = [];
  /** The earliest event of any minion, in ms since the epoch. */
  start = Infinity;

  /** Takes one event of a report file. */
  add(event: MinionEvent): void {
    const time = Date.parse(event.time);
    if (time < this.start) this.start = time;
    if (event.type !== "param.finished") return;
    this.runs.push({
      time,
      minion: event.minion,
      outcome: event.outcome,
      timings: event.timings,
      error: event.error,
      exitCode: event.exitCode,
      signal: event.signal,
    });
  }
}

/** How {@linkcode drawPictures} draws. */
export interface PictureOptions {
  /** Columns available. @default {80} */
  width?: number;
  /** Red for failures (ANSI escapes). @default {false} */
  colour?: boolean;
  /** Also a rate line per minion. @default {false} */
  perMinion?: boolean;
}

const LABEL = 7;

/**
 * A duration in ms, short: `0.5ms`, `20ms`, `1.5s`, `2m`, `1.2h`, to
 * `digits` significant digits.
 */
export function shortDuration(ms: number, digits = 2): string {
  const trim = (n: number) => String(Number(n.toPrecision(digits)));
  if (ms < 1000) return `${trim(ms)}ms`;
  if (ms < 60_000) return `${trim(ms / 1000)}s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)}m`;
  return `${trim(ms / 3_600_000)}h`;
}

/**
 * The fewest significant digits, 2 at least, that tell all of `values`
 * apart: runs of 200 to 210 ms in bins of 1.25 ms would all read `200ms`.
 */
function digitsFor(values: readonly number[]): number {
  for (let digits = 2; digits < 6; digits++) {
    const labels = values.map((v) => shortDuration(v, digits));
    if (new Set(labels).size === labels.length) return digits;
  }
  return 6;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function span(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = `${String(s % 60).padStart(2, "0")}`;
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function rate(value: number): string {
  return value >= 100
    ? value.toFixed(0)
    : value >= 10
    ? value.toFixed(1)
    : value.toFixed(2);
}

/**
 * Per column, events per second in a window ending at the column's end and
 * `windowMs` long: windows slide by one column and overlap.
 */
function slidingRates(
  times: readonly number[],
  start: number,
  end: number,
  columns: number,
  windowMs: number,
): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  const step = (end - start) / columns;
  const rates: number[] = [];
  let from = 0;
  let to = 0;
  for (let c = 0; c < columns; c++) {
    const right = start + (c + 1) * step;
    while (to < sorted.length && sorted[to]! <= right) to++;
    while (from < to && sorted[from]! <= right - windowMs) from++;
    rates.push((to - from) / (windowMs / 1000));
  }
  return rates;
}

/** Edges 1-2-5 × 10ⁿ ms covering `[low, high]`. */
function niceEdges(low: number, high: number): number[] {
  const edges: number[] = [];
  let power = Math.pow(10, Math.floor(Math.log10(low)));
  while (edges.length === 0 || edges.at(-1)! <= high) {
    for (const m of [1, 2, 5]) {
      const edge = Number((m * power).toPrecision(3));
      if (edge <= low) edges.splice(0, edges.length, edge);
      else if (edges.length === 0 || edges.at(-1)! <= high) edges.push(edge);
    }
    power *= 10;
  }
  return edges;
}

/** A step of 1, 2 or 5 × 10ⁿ, at least `raw`. */
function niceStep(raw: number): number {
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = [1, 2, 5, 10].find((m) => m * power >= raw)!;
  return Number((m * power).toPrecision(3));
}

/**
 * Durations sorted into bins: one per value when there are few, 1-2-5 × 10ⁿ
 * edges when they spread (decades past a dozen bins), even steps when not;
 * zeros apart.
 */
export function durationBins(
  values: readonly number[],
): { label: string; count: number }[] {
  const zeros = values.filter((v) => v <= 0).length;
  const positive = values.filter((v) => v > 0);
  const bins: { label: string; count: number }[] = [];
  if (zeros > 0) bins.push({ label: "0", count: zeros });
  if (positive.length === 0) return bins;
  const distinct = [...new Set(positive)].sort((a, b) => a - b);
  if (distinct.length <= 6) {
    // A few values (whole milliseconds, a fixed sleep): one bar each.
    const digits = digitsFor(distinct);
    for (const value of distinct) {
      bins.push({
        label: shortDuration(value, digits),
        count: positive.filter((v) => v === value).length,
      });
    }
    return bins;
  }
  const low = distinct[0]!;
  const high = distinct.at(-1)!;
  let edges = niceEdges(low, high);
  // Past a dozen bins, whole decades read better.
  if (edges.length > 12) {
    edges = edges.filter((e) => /^1(0*|\.0*)$|^0\.0*1$/.test(String(e)));
    if (edges.at(-1)! <= high) edges.push(edges.at(-1)! * 10);
  }
  if (edges.length < 5) {
    const step = niceStep((high - low) / 8 || high / 8);
    const first = Math.floor(low / step) * step;
    edges = [];
    for (
      let e = first;
      edges.length === 0 || edges.at(-1)! <= high;
      e += step
    ) {
      edges.push(Number(e.toPrecision(6)));
    }
  }
  const digits = digitsFor(edges);
  for (let i = 0; i + 1 < edges.length; i++) {
    const [lo, hi] = [edges[i]!, edges[i + 1]!];
    const count = positive.filter((v) =>
      v >= lo && (v < hi || (i + 2 === edges.length && v <= hi))
    ).length;
    bins.push({
      label: `${shortDuration(lo, digits)}–${shortDuration(hi, digits)}`,
      count,
    });
  }
  return bins;
}

/** What a failed run failed of, for grouping. */
function cause(run: Run): string {
  if (run.exitCode !== undefined && run.signal === undefined) {
    return `exit code ${run.exitCode}`;
  }
  if (run.signal !== undefined) return `killed by ${run.signal}`;
  const text = (run.error ?? "failed")
    // Params inside messages would make every failure its own cause.
    .replace(/\{.*\}/g, "{…}")
    .replace(/^line \d+: /, "")
    .replace(/ after [\d.]+s$/, "")
    .replace(/\s+/g, " ");
  return text.length > 28 ? `${text.slice(0, 27)}…` : text;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

/**
 * The pictures, as lines, or a line saying there is nothing to draw yet.
 *
 * @param history what the reports hold
 * @param options width, colour and per-minion lines
 */
export function drawPictures(
  history: History,
  options: PictureOptions = {},
): string[] {
  const width = Math.max(40, options.width ?? 80);
  const red = (line: string) =>
    options.colour ? `\x1b[31m${line}\x1b[39m` : line;
  const ran = history.runs.filter((r) => r.outcome !== "requeued");
  if (ran.length === 0) return ["(no finished runs yet: nothing to draw)"];
  const lines: string[] = [];
  const finished = ran.filter((r) =>
    r.outcome === "done" || r.outcome === "failed"
  );
  const failedRuns = ran.filter((r) =>
    r.outcome === "failed" || r.outcome === "retried"
  );
  const start = Math.min(history.start, ...ran.map((r) => r.time));
  const end = Math.max(...ran.map((r) => r.time));

  // Rate over time.
  const columns = width - LABEL - 2 - 1;
  if (end - start >= 1) {
    const step = (end - start) / columns;
    // Each window covers five columns: smooth enough to read, short enough
    // to show a slowdown.
    const windowMs = step * 5;
    const rates = slidingRates(
      finished.map((r) => r.time),
      start,
      end,
      columns,
      windowMs,
    );
    const top = Math.max(...rates);
    lines.push(
      `params finished per second, ${
        shortDuration(windowMs)
      } sliding windows, ${clock(start)}–${clock(end)} UTC (${
        span(end - start)
      })`,
    );
    lines.push(
      ...columnChart(rates, { top: rate(top), labelWidth: LABEL, height: 6 }),
    );
    if (failedRuns.length > 0) {
      const failing = slidingRates(
        failedRuns.map((r) => r.time),
        start,
        end,
        columns,
        windowMs,
      );
      const most = Math.max(...failing);
      lines.push(
        red(`${"failed".padStart(LABEL)} ┤${sparkRow(failing)}`.trimEnd()),
        red(
          `${"".padStart(LABEL)}  failed runs per second, ${
            rate(most)
          } at most`,
        ),
      );
    }
    if (options.perMinion) {
      lines.push("", ...perMinion(finished, start, end, width));
    }
    lines.push("");
  }

  // Durations per phase.
  const barWidth = Math.max(10, width - 30);
  const idle: string[] = [];
  for (const phase of PHASES) {
    const values = ran.map((r) => r.timings[phase]);
    // A phase that never took a millisecond is bookkeeping, not a picture.
    if (values.every((v) => v < 1)) {
      idle.push(phase);
      continue;
    }
    const sorted = [...values].sort((a, b) => a - b);
    lines.push(
      `${phase} time: ${values.length} runs, p50 ${
        shortDuration(percentile(sorted, 0.5))
      }, p95 ${shortDuration(percentile(sorted, 0.95))}, max ${
        shortDuration(sorted.at(-1)!)
      }`,
    );
    lines.push(...barRows(durationBins(values), barWidth), "");
  }
  if (idle.length > 0) {
    lines.push(`${idle.join(", ")}: under 1ms in every run`, "");
  }

  // Failures by cause.
  if (failedRuns.length > 0) {
    const counts = new Map<string, number>();
    for (const run of failedRuns) {
      counts.set(cause(run), (counts.get(cause(run)) ?? 0) + 1);
    }
    const bars = [...counts].map(([label, count]) => ({ label, count }))
      .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
    const shown = bars.slice(0, 8);
    const rest = bars.slice(8).reduce((sum, b) => sum + b.count, 0);
    if (rest > 0) shown.push({ label: "other causes", count: rest });
    lines.push(
      red(
        `failed runs by cause: ${failedRuns.length} (${
          ran.filter((r) => r.outcome === "retried").length
        } retried)`,
      ),
    );
    lines.push(...barRows(shown, Math.max(10, width - 40)).map(red), "");
  }
  while (lines.at(-1) === "") lines.pop();
  return lines;
}

/** One spark line per minion, on the shared time axis. */
function perMinion(
  finished: readonly Run[],
  start: number,
  end: number,
  width: number,
): string[] {
  const byMinion = new Map<string, number[]>();
  for (const run of finished) {
    const times = byMinion.get(run.minion) ?? [];
    times.push(run.time);
    byMinion.set(run.minion, times);
  }
  const nameWidth = Math.min(
    22,
    Math.max(...[...byMinion.keys()].map((m) => m.length)),
  );
  const columns = Math.max(10, width - nameWidth - 16);
  const windowMs = ((end - start) / columns) * 5;
  const lines = [
    `per minion: params finished per second, ${
      shortDuration(windowMs)
    } sliding windows`,
  ];
  for (
    const [minion, times] of [...byMinion].sort(([a], [b]) =>
      a.localeCompare(b)
    )
  ) {
    const rates = slidingRates(times, start, end, columns, windowMs);
    const name = minion.length > nameWidth
      ? `…${minion.slice(minion.length - nameWidth + 1)}`
      : minion.padEnd(nameWidth);
    lines.push(
      `${name} │${sparkRow(rates)}│ ${rate(Math.max(...rates))}/s max`,
    );
  }
  return lines;
}
