/**
 * `minionize submit --scheduler slurm|oar [OPTIONS] [-- SCHEDULER_ARGS --]
 * [MINION_OPTIONS] PROGRAM [ARGS...]`: submits minion jobs for the current
 * settings, named for their fleet, and leaves them to keep themselves
 * supplied (see `schedulers/top_up.ts`). `--status` shows the fleet,
 * `--cancel` stops it, `--dry-run` prints the commands.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { quote } from "npm:shlex@3.0.0";
import { parseArgs } from "./_args.ts";
import { splitWords, SUBMIT_OPTIONS, submitHelp } from "./submit_options.ts";
import { readInteger } from "../core/env.ts";
import { readSettings } from "../runner/config.ts";
import type { Env } from "../core/contracts.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { findExecutable } from "../core/path.ts";
import { PROJECT_FILE, readProject } from "../runner/project.ts";
import { parseDuration } from "../core/walltime.ts";
import { RUN_OPTIONS } from "./run.ts";
import { FleetDir, type FleetSpec } from "../schedulers/fleet_dir.ts";
import {
  jobScript,
  minionizeCommand,
  settingsToPass,
} from "../schedulers/job_script.ts";
import { runCommand, type Scheduler } from "../schedulers/scheduler.ts";
import { SCHEDULERS } from "../schedulers/registry.ts";
import { fleetStatus, formatFleetStatus } from "../schedulers/status.ts";
import {
  paramsLeft,
  planTopUp,
  topUp,
  type TopUpResult,
} from "../schedulers/top_up.ts";

async function defaultName(cwd: string): Promise<string> {
  const base = (cwd.split("/").filter((p) => p !== "").at(-1) ?? "root")
    .toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "")
    .slice(0, 24) || "root";
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(cwd)),
  );
  const hash = Array.from(
    digest.slice(0, 3),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `minions-${base}-${hash}`;
}

function fleetName(env: Env, cwd: string): Promise<string> | string {
  const given = env.MINION_FLEET_NAME?.trim();
  if (given === undefined || given === "") return defaultName(cwd);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(given)) {
    throw new ConfigError(
      "MINION_FLEET_NAME",
      `MINION_FLEET_NAME (--name) is '${given}': expected letters, digits, '.', '_' or '-' (at most 64, not starting with a punctuation mark), e.g. --name sweep-1`,
    );
  }
  return given;
}

async function chooseScheduler(env: Env): Promise<Scheduler> {
  const given = env.MINION_SCHEDULER?.trim();
  if (given) {
    const load = SCHEDULERS[given];
    if (!load) {
      throw new ConfigError(
        "MINION_SCHEDULER",
        `MINION_SCHEDULER (--scheduler) is '${given}': expected one of ${
          Object.keys(SCHEDULERS).join(", ")
        }`,
      );
    }
    return await load();
  }
  for (const load of Object.values(SCHEDULERS)) {
    const scheduler = await load();
    if (await findExecutable(scheduler.submitter, env.PATH)) return scheduler;
  }
  throw new ConfigError(
    "MINION_SCHEDULER",
    "Cannot submit: neither sbatch nor oarsub is on PATH: give --scheduler slurm or --scheduler oar, on a machine that can submit jobs",
  );
}

function positive(flags: Map<string, string>, flag: string, min: number) {
  const text = flags.get(flag);
  if (text === undefined) return undefined;
  return readInteger({ [flag]: text }, flag, min);
}

/** Reads `--walltime`, in ms. */
function walltime(flags: Map<string, string>): number | undefined {
  const text = flags.get("--walltime");
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || !(ms >= 1000) || ms > 365 * 86_400_000) {
    throw new ConfigError(
      "--walltime",
      `--walltime is '${text}': expected seconds, MM:SS, HH:MM:SS or D-HH:MM:SS from 1s to 365 days, e.g. --walltime 2:00:00`,
    );
  }
  return ms;
}

/**
 * The minion's own walltime in a job of `ms`: a little less, so that it
 * leaves, and tops the fleet up, before the scheduler kills it.
 */
export function minionWalltime(ms: number): number {
  return Math.max(1000, ms - Math.min(60_000, Math.max(10_000, ms / 10)));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** What submit printed for a top-up. */
function report(result: TopUpResult, spec: FleetSpec): string {
  const lines = [
    `minionize: fleet ${result.fleet} (${spec.scheduler}): submitted ${
      plural(result.submitted.length, "job")
    }${result.submitted.length > 0 ? `: ${result.submitted.join(" ")}` : ""}${
      result.note && result.error === undefined ? ` (${result.note})` : ""
    }`,
  ];
  if (result.pending !== undefined) {
    lines.push(
      `minionize:   before: ${result.pending} waiting, ${result.running} running; queue: ${
        result.left === undefined
          ? "size unknown"
          : `${result.left} params left`
      }`,
    );
  }
  return lines.join("\n");
}

/**
 * Runs the submit command with `args` and resolves to its exit status.
 *
 * @throws {ConfigError} on bad options or settings (nothing submitted)
 */
export async function submit(args: readonly string[]): Promise<number> {
  const { variables, flags, rest } = parseArgs(
    args,
    SUBMIT_OPTIONS,
    "minionize submit",
  );
  if (flags.has("--help")) {
    console.log(submitHelp());
    return 0;
  }
  const dashed = args.length > rest.length &&
    args[args.length - rest.length - 1] === "--";
  const env = { ...(await loadEnv()), ...variables };
  const cwd = Deno.cwd();
  const name = await fleetName(env, cwd);
  const fleet = FleetDir.of(cwd, name);

  if (flags.has("--status")) {
    const status = await fleetStatus(fleet, env);
    console.log(
      flags.has("--json")
        ? JSON.stringify(status, null, 2)
        : formatFleetStatus(status),
    );
    return 0;
  }
  if (flags.has("--cancel")) return await cancel(fleet);

  const { schedulerArgs, minionArgs } = splitWords(rest, dashed);
  const scheduler = await chooseScheduler(env);
  const walltimeMs = walltime(flags);
  scheduler.checkArgs(schedulerArgs, walltimeMs);
  const backlog = positive(flags, "--backlog", 0) ?? 1;
  const maxJobs = positive(flags, "--max-jobs", 1);
  const jobs = positive(flags, "--jobs", 0) ?? backlog;

  // The minion's settings, checked now as the minion would: a job must not
  // fail where this command could have said so.
  const minion = parseArgs(minionArgs, RUN_OPTIONS);
  const minionEnv = { ...env, ...minion.variables };
  const settings = readSettings(minionEnv);
  const program = minion.rest[0] ??
    (await readProject())?.command?.[0];
  if (program === undefined && !minionEnv.MINION_CONTAINER_IMAGE?.trim()) {
    throw new ConfigError(
      "PROGRAM",
      `no program for the minions to run: give one after the options, e.g. 'minionize submit --scheduler slurm ./a.out', or a command in ${PROJECT_FILE}`,
    );
  }
  if (
    program !== undefined && !settings.shell &&
    !minionEnv.MINION_CONTAINER_IMAGE?.trim() && !/[{}]/.test(program) &&
    (await findExecutable(program, env.PATH)) === undefined
  ) {
    throw new ConfigError(
      "PROGRAM",
      `Cannot submit '${program}': no such program${
        program.includes("/") ? " (or it is not executable)" : " on PATH"
      }; check the name, or give its path`,
    );
  }
  if (
    !flags.has("--dry-run") &&
    (await findExecutable(scheduler.submitter, env.PATH)) === undefined
  ) {
    throw new ConfigError(
      "MINION_SCHEDULER",
      `Cannot submit: ${scheduler.submitter} is not on PATH: run minionize submit where ${scheduler.name} jobs can be submitted`,
    );
  }

  const variables_ = settingsToPass(Deno.env.toObject());
  if (walltimeMs !== undefined && minionEnv.MINION_WALLTIME === undefined) {
    variables_.MINION_WALLTIME = String(minionWalltime(walltimeMs) / 1000);
  }
  const command = [...minionizeCommand(env), ...minionArgs];
  const script = jobScript({
    name,
    fleetDir: fleet.dir,
    cwd,
    variables: variables_,
    command,
  });
  const spec: FleetSpec = {
    name,
    scheduler: scheduler.name,
    cwd,
    command,
    schedulerArgs,
    backlog,
    maxJobs: maxJobs ?? null,
    walltimeMs: walltimeMs ?? null,
    concurrency: settings.concurrency,
    stopped: false,
    updated: new Date().toISOString(),
  };

  if (flags.has("--dry-run")) {
    return await dryRun(fleet, spec, script, minionEnv, jobs);
  }
  await fleet.create();
  await fleet.withLock(async () => {
    await fleet.writeScript(script);
    await fleet.writeSpec(spec);
  });
  const result = await topUp({
    fleet,
    when: "submit",
    by: "submit",
    env: minionEnv,
    requested: jobs,
  });
  console.error(report(result, spec));
  if (result.error !== undefined) {
    if (result.submitted.length === 0) {
      throw new ConfigError(scheduler.submitter, result.error);
    }
    console.error(`minionize: error: ${result.error}`);
    return 1;
  }
  console.error(
    `minionize:   job script ${fleet.scriptPath}, outputs in ${fleet.outputDir}/; minionize submit --status${
      env.MINION_FLEET_NAME ? ` --name ${name}` : ""
    } shows the fleet`,
  );
  return 0;
}

async function dryRun(
  fleet: FleetDir,
  spec: FleetSpec,
  script: string,
  env: Env,
  jobs: number,
): Promise<number> {
  const scheduler = await SCHEDULERS[spec.scheduler]!();
  const left = await paramsLeft(env, undefined, undefined);
  // The fleet's jobs already there, when the scheduler can be asked.
  let pending = 0;
  let running = 0;
  const notes: string[] = [];
  const listed = await runCommand(scheduler.listCommand(spec.name));
  if (listed.code === 0) {
    const found = scheduler.parseList(listed.stdout, spec.name);
    pending = found.filter((job) => job.pending).length;
    running = found.length - pending;
  } else {
    notes.push(
      `cannot list the fleet's jobs (${
        listed.stderr.trim().split("\n")[0]
      }): counting none`,
    );
  }
  const plan = planTopUp({
    pending,
    running,
    left,
    concurrency: spec.concurrency,
    backlog: spec.backlog,
    maxJobs: spec.maxJobs ?? Infinity,
    leaving: false,
    requested: jobs,
  });
  if (plan.note) notes.push(plan.note);
  const command = scheduler.submitCommand({
    name: spec.name,
    script: fleet.scriptPath,
    cwd: spec.cwd,
    outputDir: fleet.outputDir,
    ...(spec.walltimeMs === null ? {} : { walltimeMs: spec.walltimeMs }),
    args: spec.schedulerArgs,
  });
  console.log(`# ${fleet.scriptPath}:`);
  console.log(script.trimEnd().split("\n").map((l) => `#   ${l}`).join("\n"));
  for (const note of notes) console.log(`# ${note}`);
  for (let i = 0; i < plan.count; i++) {
    console.log(command.map((word) => quote(word)).join(" "));
  }
  return 0;
}

async function cancel(fleet: FleetDir): Promise<number> {
  const spec = await fleet.readSpec();
  const scheduler = await SCHEDULERS[spec.scheduler]!();
  const ids = await fleet.withLock(async () => {
    await fleet.writeSpec({
      ...spec,
      stopped: true,
      updated: new Date().toISOString(),
    });
    const listed = await runCommand(scheduler.listCommand(spec.name));
    if (listed.code !== 0) {
      throw new Error(
        `Cannot list the fleet's jobs: ${
          scheduler.listCommand(spec.name)[0]
        } failed: ${listed.stderr.trim()}`,
      );
    }
    return scheduler.parseList(listed.stdout, spec.name).map((job) => job.id);
  });
  if (ids.length > 0) {
    const result = await runCommand(scheduler.cancelCommand(ids));
    if (result.code !== 0) {
      throw new Error(
        `${scheduler.cancelCommand(ids)[0]} failed: ${result.stderr.trim()}`,
      );
    }
  }
  console.error(
    `minionize: fleet ${spec.name} stopped: ${
      plural(ids.length, "job")
    } cancelled${
      ids.length > 0 ? ` (${ids.join(" ")})` : ""
    }; minionize submit starts it again`,
  );
  return 0;
}
