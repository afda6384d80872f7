/**
 * `minionize status [--json] [DIR]`: what every minion reported to the json
 * reporter's directory, also while they run (the original's
 * `minion-status`). One row per minion, totals, and per-phase timings.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { formatOptions, type OptionSpec, parseArgs } from "../core/args.ts";
import { loadEnv } from "../core/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { readStatus, type StatusReport } from "../core/reports.ts";

export {
  type MinionStatus,
  type PhaseStats,
  readStatus,
  type StatusReport,
} from "../core/reports.ts";

const OPTIONS: readonly OptionSpec[] = [
  { long: "--json", help: "print one JSON document for scripts" },
  { long: "--help", short: "-h", help: "show this help" },
];

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
  for (const m of report.minions) {
    rows.push([
      m.minion,
      m.state,
      String(m.done),
      String(m.failed),
      String(m.retried),
      String(m.requeued),
      m.inFlight.map((f) => f.param).join(" ").slice(0, 30) || "-",
      m.rate.toFixed(2),
      m.lastSeen.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    ]);
  }
  const t = report.totals;
  rows.push([
    `total (${report.minions.length} minions)`,
    "",
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
    console.log(`Usage: minionize status [--json] [DIR]

Sums up what minions reported with MINION_REPORTER=json, also while they run.
DIR defaults to REPORTER_JSON_DIRECTORY, then minion-report.

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
  const report = await readStatus(directory);
  console.log(
    flags.has("--json")
      ? JSON.stringify(report, null, 2)
      : formatStatus(report),
  );
  return 0;
}
