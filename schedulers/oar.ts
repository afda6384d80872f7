/**
 * OAR for `minionize submit`: one `oarsub` per job, named for the fleet
 * (`-n`), its walltime merged into the user's `-l`; `oarstat -u -J` lists
 * the fleet; `oardel` cancels it.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import {
  type FleetJob,
  type JobRequest,
  refuseOptions,
  type Scheduler,
} from "./scheduler.ts";

/** Job states in which a job waits to start. */
const WAITING = new Set(["Waiting", "Hold", "toLaunch", "toAckReservation"]);
/** Job states of a job that is gone. */
const GONE = new Set(["Terminated", "Error"]);

const FORBIDDEN: readonly [string[], string][] = [
  [["--name", "-n"], "the fleet names its jobs: use minionize submit --name"],
  [
    ["--array", "--array-param-file"],
    "use minionize submit --jobs N for N jobs",
  ],
  [["--interactive", "-I", "--connect", "-C"], "minion jobs are batch jobs"],
];

/** OAR's walltime, `H:MM:SS` (hours may exceed 24), whole seconds up. */
export function oarWalltime(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(seconds / 3600)}:${two(Math.floor(seconds / 60) % 60)}:${
    two(seconds % 60)
  }`;
}

/**
 * The user's options with `walltime` added to each resource request
 * (`-l`, `--resource`: several are moldable alternatives), or one
 * `-l walltime=...` when there is none.
 */
export function withWalltime(
  args: readonly string[],
  walltime: string | undefined,
): string[] {
  if (walltime === undefined) return [...args];
  const out: string[] = [];
  let found = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const add = (spec: string) => `${spec},walltime=${walltime}`;
    if ((arg === "-l" || arg === "--resource") && i + 1 < args.length) {
      out.push(arg, add(args[++i]!));
      found = true;
    } else if (arg.startsWith("--resource=")) {
      out.push(`--resource=${add(arg.slice("--resource=".length))}`);
      found = true;
    } else if (arg.startsWith("-l") && !arg.startsWith("--")) {
      out.push(`-l${add(arg.slice(2))}`);
      found = true;
    } else {
      out.push(arg);
    }
  }
  return found ? out : ["-l", `walltime=${walltime}`, ...out];
}

interface _OarstatJob {
  name?: string | null;
  state?: string;
  startTime?: number;
  assigned_network_address?: string[];
  Job_Id?: number;
}

/** The OAR scheduler. */
export const oar: Scheduler = {
  name: "oar",
  submitter: "oarsub",
  checkArgs(args, walltimeMs) {
    refuseOptions(args, FORBIDDEN, "oarsub");
    if (
      walltimeMs !== undefined &&
      args.some((arg) => /(^|[,/])walltime=/.test(arg))
    ) {
      throw new ConfigError(
        "walltime",
        "oarsub's -l walltime=... and --walltime both set the time limit: give --walltime only (the minions read it too)",
      );
    }
  },
  submitCommand(request: JobRequest) {
    const walltime = request.walltimeMs === undefined
      ? undefined
      : oarWalltime(request.walltimeMs);
    return [
      "oarsub",
      "-n",
      request.name,
      "-d",
      request.cwd,
      "-O",
      `${request.outputDir}/OAR.%jobid%.stdout`,
      "-E",
      `${request.outputDir}/OAR.%jobid%.stderr`,
      ...withWalltime(request.args, walltime),
      request.script,
    ];
  },
  parseSubmitted(stdout) {
    const match = /^OAR_JOB_ID=([0-9]+)\s*$/m.exec(stdout);
    return match?.[1];
  },
  listCommand() {
    // -u alone is the user running it; -J prints JSON.
    return ["oarstat", "-u", "-J"];
  },
  parseList(stdout, name) {
    const start = stdout.indexOf("{");
    if (start < 0) return [];
    const all = JSON.parse(stdout.slice(start)) as Record<string, _OarstatJob>;
    const now = Date.now() / 1000;
    const jobs: FleetJob[] = [];
    for (const [id, job] of Object.entries(all)) {
      const state = job.state ?? "?";
      if (job.name !== name || GONE.has(state)) continue;
      const pending = WAITING.has(state);
      const started = !pending && job.startTime ? job.startTime : undefined;
      jobs.push({
        id: String(job.Job_Id ?? id),
        state,
        pending,
        elapsed: started === undefined
          ? "-"
          : oarWalltime(Math.max(0, now - started) * 1000),
        where: job.assigned_network_address?.join(",") || "-",
      });
    }
    return jobs.sort((a, b) => Number(a.id) - Number(b.id));
  },
  cancelCommand(ids) {
    return ["oardel", ...ids];
  },
  ownJob(env) {
    return (env.OAR_JOB_ID ?? env.OAR_JOBID)?.trim() || undefined;
  },
};
