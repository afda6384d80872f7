/**
 * `minionize top [OPTIONS] [DIR]`: a live full-screen view of every minion,
 * like htop: one row each (host, pid, what it runs and for how long, done,
 * failed, rate, last seen), totals, throughput and an ETA when the queue's
 * size is known. Keys: `s` sorts by the next column, `/` filters, `q` quits.
 * When standard output is not a terminal, or with `--once`, it prints one
 * snapshot and exits.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { formatOptions, type OptionSpec, parseArgs } from "./_args.ts";
import { formatDuration, renderBar } from "../runner/bar.ts";
import { readSeconds } from "../core/env.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { writeStderr } from "../runner/stderr.ts";
import { readWait, WAIT_OPTION, waitForReports } from "./_report_wait.ts";
import {
  type Fleet,
  type FleetMinion,
  FleetReader,
  fleetTotals,
} from "./_fleet.ts";

const OPTIONS: readonly OptionSpec[] = [
  {
    long: "--endpoint",
    value: "URL,...",
    help:
      "also ask these stats endpoints (minions started with --stats), comma separated",
  },
  { long: "--once", help: "print one snapshot and exit" },
  WAIT_OPTION,
  {
    long: "--interval",
    value: "SECONDS",
    variable: "TOP_INTERVAL",
    help: "time between refreshes (default 1)",
  },
  {
    long: "--lost",
    value: "SECONDS",
    variable: "TOP_LOST",
    help:
      "a running minion silent for longer is shown lost (default 90: three missed heartbeats)",
  },
  { long: "--help", short: "-h", help: "show this help" },
];

/** How the rows are ordered and which are shown. */
export interface TopView {
  /** Index into {@linkcode SORTS}. */
  sort: number;
  /** Rows must contain this (any column, any case). */
  filter: string;
  /** The filter being typed after `/`, if any. */
  editing: string | undefined;
}

type _Compare = (a: FleetMinion, b: FleetMinion) => number;

/** The orders `s` cycles through. */
export const SORTS: readonly { name: string; compare: _Compare }[] = [
  { name: "minion", compare: (a, b) => a.minion.localeCompare(b.minion) },
  { name: "done", compare: (a, b) => b.done - a.done },
  { name: "failed", compare: (a, b) => b.failed - a.failed },
  { name: "rate", compare: (a, b) => b.rate - a.rate },
  {
    name: "age",
    compare: (a, b) => (a.since ?? Infinity) - (b.since ?? Infinity),
  },
  {
    name: "last seen",
    compare: (a, b) => (a.lastSeen || 0) - (b.lastSeen || 0),
  },
  { name: "host", compare: (a, b) => a.host.localeCompare(b.host) },
];

/** What the screen shows besides the fleet. */
export interface TopFrame {
  /** Params finished per second lately. */
  throughput: number;
  /** Width of the screen. */
  width: number;
  /** Height of the screen; rows beyond it are counted, not shown. */
  height: number;
}

function ago(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  return ms < 1000 ? "now" : `${formatDuration(ms / 1000)} ago`;
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** The screen's lines for `fleet`. */
export function renderTop(
  fleet: Fleet,
  view: TopView,
  frame: TopFrame,
): string[] {
  const totals = fleetTotals(fleet);
  const time = new Date(fleet.time).toISOString().slice(11, 19);
  const lines = [
    `minionize top  ${time}Z  ${totals.minions} minions: ${totals.running} running, ${totals.lost} lost, ${totals.stopped} stopped`,
  ];
  const rate = frame.throughput;
  const eta = totals.left === undefined
    ? ""
    : `  left ${totals.left} of ${totals.total}  ETA ${
      totals.left === 0
        ? "0:00"
        : rate > 0
        ? formatDuration(totals.left / rate)
        : "?"
    }`;
  lines.push(
    `done ${totals.done}  failed ${totals.failed}  in flight ${totals.inFlight}  throughput ${
      rate.toFixed(2)
    }/s${eta}`,
  );
  if (totals.total !== undefined) {
    lines.push(
      renderBar(
        totals.total - (totals.left ?? 0),
        totals.total,
        rate,
        Math.min(frame.width, 100),
      ),
    );
  }
  lines.push("");
  const needle = view.filter.toLowerCase();
  // The job column only when some minion runs in a batch job.
  const jobs = fleet.minions.some((m) => m.job !== undefined);
  const rows = fleet.minions.map((m) => [
    m.minion,
    m.host,
    String(m.pid || "-"),
    ...(jobs ? [m.job ?? "-"] : []),
    m.state,
    m.slot === undefined ? "-" : String(m.slot),
    m.param === undefined
      ? "-"
      : clip(m.param, 24) + (m.inFlight > 1 ? ` +${m.inFlight - 1}` : ""),
    // Events written while the reports were read can be a little newer.
    m.since === undefined
      ? "-"
      : formatDuration(Math.max(0, fleet.time - m.since) / 1000),
    String(m.done),
    String(m.failed),
    m.rate.toFixed(2),
    ago(fleet.time - m.lastSeen),
  ]);
  const order = fleet.minions.map((m, i) => [m, rows[i]!] as const)
    .filter(([, row]) =>
      needle === "" || row.some((cell) => cell.toLowerCase().includes(needle))
    )
    .sort(([a], [b]) =>
      SORTS[view.sort]!.compare(a, b) || a.minion.localeCompare(b.minion)
    )
    .map(([, row]) => row);
  const header = [
    "MINION",
    "HOST",
    "PID",
    ...(jobs ? ["JOB"] : []),
    "STATE",
    "SLOT",
    "PARAM",
    "AGE",
    "DONE",
    "FAILED",
    "RATE/s",
    "LAST SEEN",
  ];
  const left = new Set(jobs ? [0, 1, 3, 4, 6] : [0, 1, 3, 5]);
  const widths = header.map((h, c) =>
    Math.max(h.length, ...order.map((row) => row[c]!.length))
  );
  const format = (row: string[]) =>
    row.map((cell, c) =>
      left.has(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)
    ).join("  ").trimEnd();
  lines.push(format(header));
  const footer = view.editing !== undefined
    ? `/${view.editing}_   (Enter: apply, Esc: clear)`
    : `q quit  s sort: ${SORTS[view.sort]!.name}  / filter${
      view.filter ? `: ${view.filter}` : ""
    }${
      order.length < rows.length
        ? `  (${order.length} of ${rows.length} shown)`
        : ""
    }`;
  const room = Math.max(1, frame.height - lines.length - 2);
  const shown = order.length > room ? order.slice(0, room - 1) : order;
  lines.push(...shown.map(format));
  if (shown.length < order.length) {
    lines.push(`… ${order.length - shown.length} more`);
  }
  lines.push("", footer);
  return lines.map((line) => clip(line, frame.width));
}

/** Params finished per second over the last half minute of readings. */
class Throughput {
  #samples: { time: number; finished: number }[] = [];

  /** Takes a reading; returns the recent rate, or `fallback` too early on. */
  add(fleet: Fleet, fallback: number): number {
    const totals = fleetTotals(fleet);
    this.#samples.push({
      time: fleet.time,
      finished: totals.done + totals.failed,
    });
    while (
      this.#samples.length > 2 && fleet.time - this.#samples[0]!.time > 30_000
    ) this.#samples.shift();
    const first = this.#samples[0]!;
    const span = (fleet.time - first.time) / 1000;
    if (span < 3) return fallback;
    const last = this.#samples.at(-1)!;
    return Math.max(0, (last.finished - first.finished) / span);
  }
}

const encoder = new TextEncoder();
const ESC = "\x1b";

/** Applies one key press to `view`; returns false to quit. */
export function press(view: TopView, key: string): boolean {
  if (view.editing !== undefined) {
    if (key === "\r" || key === "\n") {
      view.filter = view.editing;
      view.editing = undefined;
    } else if (key === ESC) {
      view.filter = "";
      view.editing = undefined;
    } else if (key === "\x7f" || key === "\b") {
      view.editing = view.editing.slice(0, -1);
    } else if (key === "\x03") {
      return false;
    } else if (key >= " " && !key.startsWith(ESC)) {
      view.editing += key;
    }
    return true;
  }
  if (key === "q" || key === "\x03" || key === "\x04") return false;
  if (key === "s") view.sort = (view.sort + 1) % SORTS.length;
  if (key === "S") view.sort = (view.sort + SORTS.length - 1) % SORTS.length;
  if (key === "/") view.editing = view.filter;
  if (key === ESC) view.filter = "";
  return true;
}

async function live(
  reader: FleetReader,
  intervalMs: number,
): Promise<number> {
  const view: TopView = { sort: 0, filter: "", editing: undefined };
  const throughput = new Throughput();
  let fleet = await reader.read();
  let rate = throughput.add(fleet, fleetTotals(fleet).rate);
  const write = (text: string) => Deno.stdout.writeSync(encoder.encode(text));
  const draw = () => {
    const { columns, rows } = Deno.consoleSize();
    const lines = renderTop(fleet, view, {
      throughput: rate,
      width: columns || 80,
      height: rows || 24,
    });
    // Home, each line cleared to its end, then the rest of the screen.
    write(
      `${ESC}[H${lines.map((l) => `${l}${ESC}[K`).join("\r\n")}${ESC}[J`,
    );
  };
  let quit!: () => void;
  const done = new Promise<void>((resolve) => quit = resolve);
  const signals: Deno.Signal[] = ["SIGTERM", "SIGHUP", "SIGINT"];
  const redraw = () => draw();
  Deno.stdin.setRaw(true);
  write(`${ESC}[?1049h${ESC}[?25l`);
  for (const s of signals) Deno.addSignalListener(s, quit);
  Deno.addSignalListener("SIGWINCH", redraw);
  const timer = setInterval(async () => {
    try {
      fleet = await reader.read();
      rate = throughput.add(fleet, fleetTotals(fleet).rate);
      draw();
    } catch {
      // A report file caught mid-rename or a slow endpoint: next time.
    }
  }, intervalMs);
  (async () => {
    const buffer = new Uint8Array(64);
    const decoder = new TextDecoder();
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) return quit();
      const text = decoder.decode(buffer.subarray(0, n));
      // An escape sequence (arrow keys, ...) is one key, ignored; a lone
      // escape clears the filter.
      const keys = text.startsWith(ESC) ? [text.length === 1 ? ESC : ""] : [
        ...text,
      ];
      for (const key of keys) {
        if (!press(view, key)) return quit();
      }
      draw();
    }
  })();
  draw();
  try {
    await done;
  } finally {
    clearInterval(timer);
    for (const s of signals) Deno.removeSignalListener(s, quit);
    Deno.removeSignalListener("SIGWINCH", redraw);
    write(`${ESC}[?25h${ESC}[?1049l`);
    Deno.stdin.setRaw(false);
  }
  return 0;
}

/** Runs `minionize top` with `args`; resolves to the exit status. */
export async function top(args: string[]): Promise<number> {
  const { variables, flags, rest } = parseArgs(args, OPTIONS, "minionize top");
  if (flags.has("--help")) {
    console.log(`Usage: minionize top [OPTIONS] [DIR]

A live view of every minion: what each runs and for how long, its counts and
rate, when it was last seen (a running minion silent too long is lost);
totals, throughput and, when the queue's size is known, an ETA.

It reads the reports of minions run with MINION_REPORTER=json in DIR
(default REPORTER_JSON_DIRECTORY, then minion-report) and, with --endpoint,
the stats endpoints of minions run with --stats as well. Without --endpoint
it waits for the first report when there is none yet (--wait); with it, a
missing default directory is skipped. The queue's size comes from
MINION_ENGINE and its settings (environment, .env, .minionize.yml).

Keys: s next sort column (S previous), / filter (Enter apply, Esc clear),
q quit. Prints one snapshot when standard output is not a terminal.

Options:
${formatOptions(OPTIONS)}`);
    return 0;
  }
  if (rest.length > 1) {
    throw new ConfigError(
      "DIR",
      `top takes one directory, got ${rest.length}: ${rest.join(" ")}`,
    );
  }
  const env = { ...(await loadEnv()), ...variables };
  const endpoints = (flags.get("--endpoint") ?? "").split(/[,\s]+/)
    .filter((e) => e !== "");
  const directory = rest[0] ??
    (env.REPORTER_JSON_DIRECTORY?.trim() || "minion-report");
  // Endpoints add to the reports; without them, the reports are all there
  // is to show, so wait for the first.
  if (endpoints.length === 0) {
    await waitForReports(directory, {
      timeoutMs: readWait(flags.get("--wait")),
      notify: writeStderr,
    });
  }
  const reader = new FleetReader({
    directory,
    // A directory nobody named may not exist beside endpoints.
    directoryOptional: endpoints.length > 0 && rest[0] === undefined,
    endpoints,
    env,
    lostAfterMs: readSeconds(env, "TOP_LOST") ?? 90_000,
  });
  const intervalMs = readSeconds(env, "TOP_INTERVAL") ?? 1000;
  if (
    flags.has("--once") || !Deno.stdout.isTerminal() ||
    !Deno.stdin.isTerminal()
  ) {
    const fleet = await reader.read();
    const lines = renderTop(
      fleet,
      { sort: 0, filter: "", editing: undefined },
      {
        throughput: fleetTotals(fleet).rate,
        width: Infinity,
        height: Infinity,
      },
    );
    // The key help means nothing in a snapshot.
    console.log(lines.slice(0, -2).join("\n"));
    return 0;
  }
  return await live(reader, intervalMs);
}
