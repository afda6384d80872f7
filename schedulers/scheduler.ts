/**
 * What `minionize submit` and the minions' top-up need from a batch
 * scheduler: the command that submits one job, the one that lists a fleet's
 * jobs by name, the one that cancels jobs, and readers of their output. A
 * scheduler is pure text in and out; {@linkcode runCommand} runs the
 * commands, so that parsing is tested on real output without a scheduler.
 *
 * @module
 */

import type { Env } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";

/** One job of a fleet, as the scheduler lists it. */
export interface FleetJob {
  /** The id the scheduler gives it (what `scancel` and `oardel` take). */
  id: string;
  /** The scheduler's own word for its state: `PENDING`, `Running`, ... */
  state: string;
  /** Waiting to start: counts against `--backlog`. */
  pending: boolean;
  /** How long it has run, as the scheduler says, or `-`. */
  elapsed: string;
  /** The nodes it runs on, or why it waits, or `-`. */
  where: string;
}

/** One job to submit. */
export interface JobRequest {
  /** The fleet's name: every job of the fleet bears it. */
  name: string;
  /** The job script, an absolute path. */
  script: string;
  /** The directory the job starts in. */
  cwd: string;
  /** Where the job's output files go. */
  outputDir: string;
  /** The job's time limit, in ms. @default {the scheduler's default} */
  walltimeMs?: number;
  /** The user's own options for the submission command. */
  args: readonly string[];
}

/** A batch scheduler, as commands and readers of their output. */
export interface Scheduler {
  /** `slurm` or `oar`. */
  readonly name: string;
  /** The program that submits jobs (`sbatch`, `oarsub`). */
  readonly submitter: string;
  /**
   * Rejects user options that would break the fleet's bookkeeping (a job
   * name, an array, an interactive job).
   *
   * @throws {ConfigError} naming the option and what to use instead
   */
  checkArgs(args: readonly string[], walltimeMs: number | undefined): void;
  /** The argv that submits one job. */
  submitCommand(request: JobRequest): string[];
  /** The job id in what the submission printed, if any. */
  parseSubmitted(stdout: string): string | undefined;
  /** The argv that lists this user's jobs named `name`. */
  listCommand(name: string): string[];
  /** The jobs named `name` in what the listing printed. */
  parseList(stdout: string, name: string): FleetJob[];
  /** The argv that cancels `ids`. */
  cancelCommand(ids: readonly string[]): string[];
  /** The id of the job this process runs in, under this scheduler. */
  ownJob(env: Env): string | undefined;
}

/** What a scheduler command printed and returned. */
export interface CommandResult {
  /** Its exit status (127 when the program is not there, 124 on timeout). */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one scheduler command. */
export type CommandRunner = (argv: readonly string[]) => Promise<CommandResult>;

/**
 * Variables a job leaves in the environment of what it starts, which would
 * tell a submission command about the job that submits rather than the new
 * one (`SLURM_*`, `SBATCH_*`, `OAR_*`, `PBS_*`); `SLURM_CONF` is kept, as
 * it says which cluster to talk to.
 */
const JOB_VARIABLES = /^(SLURM_|SBATCH_|SALLOC_|SRUN_|OAR_|PBS_)/;

/** This process's environment without the variables of the job it runs in. */
export function submissionEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      name === "SLURM_CONF" || !JOB_VARIABLES.test(name)
    ),
  );
}

/**
 * Runs `argv` with this process's environment, minus the variables of the
 * job it runs in (see {@linkcode submissionEnv}), for at most `timeoutMs`.
 * A missing program gives status 127, a timeout 124; it never throws.
 *
 * Needs `--allow-run` and `--allow-env`.
 */
export async function runCommand(
  argv: readonly string[],
  timeoutMs = 60_000,
): Promise<CommandResult> {
  const [program, ...args] = argv;
  try {
    const output = await new Deno.Command(program!, {
      args,
      clearEnv: true,
      env: submissionEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.signal === "SIGTERM" ? 124 : output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    const missing = error instanceof Deno.errors.NotFound;
    return {
      code: missing ? 127 : 126,
      stdout: "",
      stderr: missing
        ? `${program}: command not found`
        : `${program}: ${(error as Error).message}`,
    };
  }
}

/** `D-HH:MM:SS` (or `HH:MM:SS` under a day) for `ms`, whole seconds up. */
export function clockTime(ms: number): string {
  let seconds = Math.ceil(ms / 1000);
  const days = Math.floor(seconds / 86_400);
  seconds -= days * 86_400;
  const two = (n: number) => String(n).padStart(2, "0");
  const hms = `${two(Math.floor(seconds / 3600))}:${
    two(Math.floor(seconds / 60) % 60)
  }:${two(seconds % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

/**
 * The first of `options` (long `--x`, `--x=...`, or short `-x`, `-xVALUE`)
 * present in `args`, if any.
 */
export function findOption(
  args: readonly string[],
  options: readonly string[],
): string | undefined {
  for (const arg of args) {
    for (const option of options) {
      if (arg === option) return option;
      if (option.startsWith("--") && arg.startsWith(`${option}=`)) {
        return option;
      }
      if (
        !option.startsWith("--") && !arg.startsWith("--") &&
        arg.startsWith(option)
      ) return option;
    }
  }
  return undefined;
}

/**
 * Refuses the first option of `args` that submit must set itself: each
 * entry of `forbidden` is the option's spellings and the fix to name.
 *
 * @throws {ConfigError} naming the option, the submitter and the fix
 */
export function refuseOptions(
  args: readonly string[],
  forbidden: readonly (readonly [readonly string[], string])[],
  submitter: string,
): void {
  for (const [options, fix] of forbidden) {
    const found = findOption(args, options);
    if (found) {
      throw new ConfigError(
        found,
        `${submitter} option '${found}' cannot be given to minionize submit: ${fix}`,
      );
    }
  }
}
