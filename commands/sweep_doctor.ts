/**
 * `minionize sweep doctor [DIR]`: checks that a directory can hold a sweep
 * shared by minions on several nodes, printing one verdict per check with
 * its fix. Exit 0 when every check passes, 1 when one fails, 2 on bad input.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { parseArgs } from "./_args.ts";
import type { Env } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { sweepDoctor, type Verdict } from "../engines/execo/doctor.ts";
import type { OptionSpec } from "./_args.ts";

/** The options of `sweep doctor` besides `--dir` and `--help`. */
export const DOCTOR_OPTIONS: readonly OptionSpec[] = [
  {
    long: "--run",
    value: "ID",
    help:
      "instances given the same ID meet (default: the Slurm job step under srun, else any started meanwhile)",
  },
  {
    long: "--peers",
    value: "N",
    help:
      "how many instances to wait for, this one included (default: the tasks of the srun step, else those that come within 6 s)",
  },
];

/** The usage line of `sweep doctor`. */
export const DOCTOR_USAGE =
  "doctor [DIR]                check DIR's filesystem; run on several nodes at once, locks and reads across them";

const LABELS: Record<Verdict["status"], string> = {
  ok: "ok",
  warn: "warn",
  fail: "FAIL",
  skip: "skip",
};

/** One line per verdict: status, check, what was found, the fix. */
export function formatVerdict(verdict: Verdict): string {
  return `${LABELS[verdict.status].padEnd(4)}  ${
    verdict.check.padEnd(6)
  }  ${verdict.message}${verdict.fix ? `; fix: ${verdict.fix}` : ""}`;
}

function peersOption(value: string): number {
  const peers = Number(value);
  if (!/^[0-9]+$/.test(value) || peers < 1 || peers > 10_000) {
    throw new ConfigError(
      "--peers",
      `option '--peers' is '${value}': expected how many instances to wait for, a whole number from 1 (e.g. --peers 2)`,
    );
  }
  return peers;
}

function runOption(value: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/.test(value)) {
    throw new ConfigError(
      "--run",
      `option '--run' is '${value}': expected up to 100 letters, digits, '.', '_' or '-', not starting with '.' (e.g. --run job42)`,
    );
  }
  return value;
}

/**
 * Runs `sweep doctor` on `dir` (or the DIR operand) and resolves to the
 * exit status.
 *
 * @throws {ConfigError} on a bad option or a DIR that is not a directory
 */
export async function doctor(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
): Promise<number> {
  // Options may also follow DIR (`sweep doctor sweeps --peers 2`).
  const [operand, ...after] = rest;
  const more = parseArgs(after, DOCTOR_OPTIONS, "minionize sweep doctor");
  if (more.rest.length > 0) {
    throw new ConfigError(
      more.rest[0]!,
      `unexpected argument '${
        more.rest[0]
      }': sweep doctor checks one directory; see 'minionize sweep doctor --help'`,
    );
  }
  const given = new Map([...flags, ...more.flags]);
  const target = operand ?? dir;
  let run = given.has("--run") ? runOption(given.get("--run")!) : undefined;
  let peers = given.has("--peers")
    ? peersOption(given.get("--peers")!)
    : undefined;
  // Under srun, the tasks of one job step meet, and know how many they are.
  const tasks = env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS;
  if (env.SLURM_JOB_ID && env.SLURM_STEP_ID && tasks) {
    run ??= runOption(`slurm-${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID}`);
    peers ??= peersOption(tasks);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch (error) {
    throw new ConfigError(
      "DIR",
      `Cannot check '${target}': ${
        error instanceof Deno.errors.NotFound
          ? "it does not exist"
          : (error as Error).message
      }; give the directory that holds the sweep (or will), and create it first`,
      { cause: error },
    );
  }
  if (!info.isDirectory) {
    throw new ConfigError(
      "DIR",
      `Cannot check '${target}': it is not a directory; give the directory that holds the sweep`,
    );
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    const verdicts = await sweepDoctor(target, {
      run,
      peers,
      signal: controller.signal,
      onVerdict: (verdict) => console.log(formatVerdict(verdict)),
      onWait: (message) => console.error(`minionize: ${message}`),
    });
    if (controller.signal.aborted) return 130;
    return verdicts.some((v) => v.status === "fail") ? 1 : 0;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}
