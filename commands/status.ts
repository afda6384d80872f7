/**
 * `minionize status [--json] [DIR]`: what every minion reported to the json
 * reporter's directory, also while they run (the original's
 * `minion-status`). One row per minion, totals, and per-phase timings.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { formatOptions, type OptionSpec, parseArgs } from "./_args.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { writeStderr } from "../runner/stderr.ts";
import { readStatus, type StatusReport } from "../core/reports.ts";
import { readWait, WAIT_OPTION, waitForReports } from "./_report_wait.ts";
import { drawPictures, History } from "./status_pictures.ts";

export {
  type MinionStatus,
  type PhaseStats,
  readStatus,
  type StatusReport,
} from "../core/reports.ts";

const OPTIONS: readonly OptionSpec[] = [
  { long: "--json", help: "print one JSON document for scripts" },
  {
    long: "--per-minion",
    help: "also draw each minion's rate over time",
  },
  { long: "--no-pictures", help: "print the tables only" },
  WAIT_OPTION,
  { long: "--help", short: "-h", help: "show this help" },
];

/** Columns to draw in: the terminal's, or 80 when not a terminal. */
function columns(): number {
  if (!Deno.stdout.isTerminal()) return 80;
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) =>
    Math.max(...rows.map((row) => row[column]!.length))
  );
  return rows.map((row) =>
    row.map((cell, column) =>
      column === 0
        ? cell.padEnd(widths[column]!)
        : cell.padStart(widths[column]!)
    ).join("  ")
  ).join("\n");
}

/** The report as text tables. */
export function formatStatus(report: StatusReport): string {
  const rows = [[
    "minion",
    "state",
    "done",
    "failed",
    "retried",
    "requeued",
    "in flight",
    "rate/s",
    "last seen",
  ]];
  // The job column only when some minion ran in a batch job.
  const jobs = report.minions.some((m) => m.job !== undefined);
  if (jobs) rows[0]!.splice(2, 0, "job");
  for (const m of report.minions) {
    rows.push([
      m.minion,
      m.state,
      ...(jobs ? [m.job ?? "-"] : []),
      String(m.done),
      String(m.failed),
      String(m.retried),
      String(m.requeued),
      m.inFlight.map((f) =>
        f.slot === undefined ? f.param : `[${f.slot}] ${f.param}`
      ).join(" ").slice(0, 30) || "-",
      m.rate.toFixed(2),
      m.lastSeen.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    ]);
  }
  const t = report.totals;
  rows.push([
    `total (${report.minions.length} minions)`,
    "",
    ...(jobs ? [""] : []),
    String(t.done),
    String(t.failed),
    String(t.retried),
    String(t.requeued),
    String(t.inFlight),
    t.rate.toFixed(2),
    "",
  ]);
  const phases = [["phase (ms)", "runs", "mean", "p50", "p95"]];
  for (const [name, s] of Object.entries(report.phases)) {
    phases.push([
      name,
      String(s.count),
      s.mean.toFixed(1),
      s.p50.toFixed(1),
      s.p95.toFixed(1),
    ]);
  }
  return `${table(rows)}\n\n${table(phases)}`;
}

/** Runs `minionize status` with `args`; resolves to the exit status. */
export async function status(args: string[]): Promise<number> {
  const { flags, rest } = parseArgs(args, OPTIONS, "minionize status");
  if (flags.has("--help")) {
    console.log(`Usage: minionize status [OPTIONS] [DIR]

Sums up what minions reported with MINION_REPORTER=json, also while they run:
a table per minion, totals and per-phase timings, then pictures: params
finished per second over time (sliding windows) with the failed runs beneath,
the distribution of each phase's durations and the failed runs by cause.
Colours only on a terminal (and never with NO_COLOR). DIR defaults to
REPORTER_JSON_DIRECTORY, then minion-report; while it does not exist (no
minion started yet), status waits for it (--wait).

Options:
${formatOptions(OPTIONS)}`);
    return 0;
  }
  if (rest.length > 1) {
    throw new ConfigError(
      "DIR",
      `status takes one directory, got ${rest.length}: ${rest.join(" ")}`,
    );
  }
  const env = await loadEnv();
  const directory = rest[0] ??
    (env.REPORTER_JSON_DIRECTORY?.trim() || "minion-report");
  await waitForReports(directory, {
    timeoutMs: readWait(flags.get("--wait")),
    notify: writeStderr,
  });
  if (flags.has("--json")) {
    console.log(JSON.stringify(await readStatus(directory), null, 2));
    return 0;
  }
  const history = new History();
  const report = await readStatus(directory, {
    onEvent: (event) => history.add(event),
  });
  const text = formatStatus(report);
  if (flags.has("--no-pictures")) {
    console.log(text);
    return 0;
  }
  const pictures = drawPictures(history, {
    width: columns(),
    colour: Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR"),
    perMinion: flags.has("--per-minion"),
  });
  console.log(`${text}\n\n${pictures.join("\n")}`);
  return 0;
}
