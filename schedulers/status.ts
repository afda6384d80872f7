/**
 * `minionize submit --status`: a fleet's jobs as the scheduler lists them,
 * each with the minion that runs in it (from the json reports, which carry
 * the job's id), what the queue holds, and how its submissions went.
 *
 * @module
 */

import type { Env } from "../core/contracts.ts";
import { readStatus } from "../core/reports.ts";
import { formatJob } from "../core/scheduler_job.ts";
import {
  type FleetDir,
  type FleetLogEntry,
  type FleetSpec,
  type FleetState,
} from "./fleet_dir.ts";
import { type FleetJob, runCommand } from "./scheduler.ts";
import { SCHEDULERS } from "./registry.ts";
import { paramsLeft } from "./top_up.ts";

/** One job of the fleet, with its minion when it reported. */
export interface FleetStatusJob extends FleetJob {
  /** The minion running in it, from its report. */
  minion?: string;
  /** Its minion's state (`running`, `stopped (REASON)`). */
  minionState?: string;
  /** Params its minion finished. */
  done?: number;
  failed?: number;
  /** What its minion runs now. */
  params?: string[];
}

/** Everything `submit --status` prints. */
export interface FleetStatus {
  /** The fleet's settings. */
  fleet: FleetSpec;
  /** Its directory. */
  dir: string;
  /** Its jobs in the scheduler now. */
  jobs: FleetStatusJob[];
  /** Why the jobs could not be listed, if they could not. */
  listError?: string;
  /** Params the queue holds, unfinished, when known. */
  left?: number;
  /** Submission failures, back-off. */
  state: FleetState;
  /** Jobs submitted in all, and by how many decisions. */
  submitted: number;
  decisions: number;
  /** The last decision. */
  last?: FleetLogEntry;
  /** Minions that reported in all (json reporter), and their totals. */
  minions: { count: number; done: number; failed: number } | undefined;
}

/**
 * Reads the fleet's state: its settings and log, the scheduler's listing
 * (a failure is reported, not thrown) and the minions' reports.
 *
 * @throws {ConfigError} when there is no fleet in `fleet`
 */
export async function fleetStatus(
  fleet: FleetDir,
  env: Env,
): Promise<FleetStatus> {
  const spec = await fleet.readSpec();
  const scheduler = await SCHEDULERS[spec.scheduler]!();
  const listed = await runCommand(scheduler.listCommand(spec.name));
  let jobs: FleetStatusJob[] = [];
  let listError: string | undefined;
  if (listed.code === 0) {
    jobs = scheduler.parseList(listed.stdout, spec.name);
  } else {
    listError = `${scheduler.listCommand(spec.name)[0]} failed: ${
      listed.stderr.trim() || `exit status ${listed.code}`
    }`;
  }
  const directory = env.REPORTER_JSON_DIRECTORY?.trim() || "minion-report";
  let minions: FleetStatus["minions"];
  try {
    const report = await readStatus(
      directory.startsWith("/") ? directory : `${spec.cwd}/${directory}`,
    );
    minions = {
      count: report.minions.length,
      done: report.totals.done,
      failed: report.totals.failed,
    };
    jobs = jobs.map((job) => {
      const text = formatJob({ scheduler: spec.scheduler, id: job.id });
      const mine = report.minions.filter((m) => m.job === text).at(-1);
      if (!mine) return job;
      return {
        ...job,
        minion: mine.minion,
        minionState: mine.state,
        done: mine.done,
        failed: mine.failed,
        params: mine.inFlight.map((f) => f.param),
      };
    });
  } catch {
    minions = undefined; // no json reports: minions run with another reporter
  }
  const log = await fleet.readLog();
  const left = await paramsLeft(env, undefined, undefined).catch(() =>
    undefined
  );
  return {
    fleet: spec,
    dir: fleet.dir,
    jobs,
    ...(listError === undefined ? {} : { listError }),
    ...(left === undefined ? {} : { left }),
    state: await fleet.readState(),
    submitted: log.reduce((n, entry) => n + entry.submitted.length, 0),
    decisions: log.length,
    ...(log.length > 0 ? { last: log.at(-1)! } : {}),
    minions,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) =>
    Math.max(...rows.map((row) => row[c]!.length))
  );
  return rows.map((row) =>
    row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()
  ).join("\n");
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${
    two(s % 60)
  }`;
}

/** The status as text. */
export function formatFleetStatus(status: FleetStatus): string {
  const f = status.fleet;
  const lines = [
    `fleet ${f.name} (${f.scheduler}${
      f.stopped ? ", cancelled" : ""
    }), submitted from ${f.cwd}: backlog ${f.backlog}, ${
      f.maxJobs === null ? "no limit on jobs" : `at most ${f.maxJobs} jobs`
    }, walltime ${
      f.walltimeMs === null ? "the scheduler's" : duration(f.walltimeMs)
    }`,
  ];
  if (status.listError) {
    lines.push(`jobs: cannot list them: ${status.listError}`);
  } else {
    const pending = status.jobs.filter((j) => j.pending).length;
    lines.push(
      `jobs: ${pending} waiting, ${status.jobs.length - pending} running`,
    );
    if (status.jobs.length > 0) {
      const rows = [[
        "JOB",
        "STATE",
        "TIME",
        "WHERE",
        "MINION",
        "DONE",
        "FAILED",
        "RUNS",
      ]];
      for (const job of status.jobs) {
        rows.push([
          job.id,
          job.state,
          job.elapsed,
          job.where,
          job.minion ?? "-",
          job.done === undefined ? "-" : String(job.done),
          job.failed === undefined ? "-" : String(job.failed),
          job.params?.join(" ").slice(0, 30) || "-",
        ]);
      }
      lines.push(table(rows));
    }
  }
  lines.push(
    `queue: ${
      status.left === undefined
        ? "size unknown (this engine keeps no census)"
        : `${status.left} params left`
    }${
      status.minions
        ? `; ${status.minions.count} minions reported ${status.minions.done} done, ${status.minions.failed} failed`
        : ""
    }`,
  );
  const last = status.last;
  lines.push(
    `submissions: ${status.submitted} job${
      status.submitted === 1 ? "" : "s"
    } in ${status.decisions} decision${status.decisions === 1 ? "" : "s"}${
      last
        ? `, the last at ${last.time} by ${last.by} (${last.when}): ${last.submitted.length} submitted${
          last.note ? `, ${last.note}` : ""
        }${last.error ? `, ${last.error}` : ""}`
        : ""
    }`,
  );
  if (status.state.gaveUp) {
    lines.push(`top-ups stopped: ${status.state.gaveUp}`);
  } else if (status.state.failures > 0) {
    lines.push(
      `${status.state.failures} failed submissions in a row; next try after ${
        new Date(status.state.retryAt ?? 0).toISOString()
      } (last: ${status.state.lastError})`,
    );
  }
  lines.push(`directory: ${status.dir}`);
  return lines.join("\n");
}
