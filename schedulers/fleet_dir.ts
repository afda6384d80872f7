/**
 * A fleet's own directory, `minion-fleet/NAME/` in the directory it was
 * submitted from: what `minionize submit` was asked (`fleet.json`), the job
 * script every job of the fleet runs (`job.sh`), the lock that serializes
 * submissions (`lock`), the submission failures counted for back-off
 * (`state.json`), one line per submission decision (`log.jsonl`) and the
 * jobs' output files (`out/`).
 *
 * The jobs find it through `MINION_FLEET`, so it must be on a filesystem
 * every node sees, with working `flock` (the same as an execo sweep needs),
 * whatever engine the minions use: broker engines have no directory of
 * their own to hold the lock.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";

/** Where fleets live, under the directory `minionize submit` runs in. */
export const FLEETS_DIR = "minion-fleet";

/** What `minionize submit` was asked, kept for the top-ups. */
export interface FleetSpec {
  /** The fleet's name: every job of the fleet bears it. */
  name: string;
  /** `slurm` or `oar`. */
  scheduler: string;
  /** The directory jobs start in (absolute). */
  cwd: string;
  /** The minion's command line: minionize itself, then its options and program. */
  command: string[];
  /** The user's own options for the submission command. */
  schedulerArgs: string[];
  /** Jobs kept waiting to start while work remains. */
  backlog: number;
  /** Jobs waiting and running at most; `null` for no limit. */
  maxJobs: number | null;
  /** Each job's time limit, in ms; `null` for the scheduler's default. */
  walltimeMs: number | null;
  /** Params one minion runs at once (`-j`), to size the fleet. */
  concurrency: number;
  /** Set by `minionize submit --cancel`: submit nothing more. */
  stopped: boolean;
  /** When it was last written (ISO 8601). */
  updated: string;
}

/** Submission failures, shared by every top-up for back-off. */
export interface FleetState {
  /** Failed submissions (or listings) in a row. */
  failures: number;
  /** No top-up submits before this time (ms since the epoch). */
  retryAt?: number;
  /** The last failure's message. */
  lastError?: string;
  /** Set once top-ups gave up: why, until `minionize submit` runs again. */
  gaveUp?: string;
}

/** One submission decision, a line of `log.jsonl`. */
export interface FleetLogEntry {
  /** When (ISO 8601). */
  time: string;
  /** Who decided: `submit`, or the minion's id. */
  by: string;
  /** The deciding minion's own job id, if any. */
  job?: string;
  /** `submit`, `start` or `leave`. */
  when: string;
  /** The fleet's jobs waiting, and started, before it submitted. */
  pending?: number;
  running?: number;
  /** Params left in the queue, when known. */
  left?: number;
  /** Ids of the jobs submitted. */
  submitted: string[];
  /** Why no more were submitted. */
  note?: string;
  /** What failed. */
  error?: string;
}

/** How long {@linkcode FleetDir.withLock} waits. */
export interface FleetLockOptions {
  /** Gives up (throwing) after this long, in ms. @default {60000} */
  timeoutMs?: number;
}

/** Thrown when the fleet's lock stays taken too long. */
export class FleetLockTimeout extends Error {
  /** @param message what was waited for */
  constructor(message: string) {
    super(message);
    this.name = "FleetLockTimeout";
  }
}

/** A fleet's directory and the files in it. */
export class FleetDir {
  /** @param dir the fleet's directory, absolute */
  constructor(readonly dir: string) {}

  /** The directory of the fleet `name` submitted from `cwd`. */
  static of(cwd: string, name: string): FleetDir {
    return new FleetDir(`${cwd.replace(/\/+$/, "")}/${FLEETS_DIR}/${name}`);
  }

  /** `fleet.json` */
  get specPath(): string {
    return `${this.dir}/fleet.json`;
  }
  /** `job.sh`, the job script. */
  get scriptPath(): string {
    return `${this.dir}/job.sh`;
  }
  /** `out/`, the jobs' output files. */
  get outputDir(): string {
    return `${this.dir}/out`;
  }
  /** `log.jsonl` */
  get logPath(): string {
    return `${this.dir}/log.jsonl`;
  }

  /** Creates the directory (readable by its owner only: it may hold secrets). */
  async create(): Promise<void> {
    await Deno.mkdir(this.outputDir, { recursive: true, mode: 0o700 });
    await Deno.chmod(this.dir, 0o700);
  }

  /** Whether a fleet was submitted here. */
  async exists(): Promise<boolean> {
    try {
      await Deno.stat(this.specPath);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The fleet's settings.
   *
   * @throws {ConfigError} when there is no fleet here or its file is damaged
   */
  async readSpec(): Promise<FleetSpec> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.specPath);
    } catch (error) {
      throw new ConfigError(
        "MINION_FLEET",
        `Cannot read the fleet in '${this.dir}': ${
          (error as Error).message
        }; submit it first with minionize submit (or give its --name)`,
        { cause: error },
      );
    }
    try {
      return JSON.parse(text) as FleetSpec;
    } catch (error) {
      throw new ConfigError(
        "MINION_FLEET",
        `Cannot read the fleet in '${this.dir}': ${this.specPath} is not JSON; submit it again with minionize submit`,
        { cause: error },
      );
    }
  }

  /** Writes the fleet's settings (whole, through a rename). */
  async writeSpec(spec: FleetSpec): Promise<void> {
    await replace(this.specPath, `${JSON.stringify(spec, null, 2)}\n`, 0o600);
  }

  /** Writes the job script, executable by its owner. */
  async writeScript(text: string): Promise<void> {
    await replace(this.scriptPath, text, 0o700);
  }

  /** The submission failures so far (none when never written). */
  async readState(): Promise<FleetState> {
    try {
      return JSON.parse(
        await Deno.readTextFile(`${this.dir}/state.json`),
      ) as FleetState;
    } catch {
      return { failures: 0 };
    }
  }

  /** Writes the submission failures. */
  async writeState(state: FleetState): Promise<void> {
    await replace(
      `${this.dir}/state.json`,
      `${JSON.stringify(state)}\n`,
      0o600,
    );
  }

  /** Appends one decision to `log.jsonl`, in one write. */
  async appendLog(entry: FleetLogEntry): Promise<void> {
    await Deno.writeTextFile(this.logPath, `${JSON.stringify(entry)}\n`, {
      append: true,
      mode: 0o600,
    });
  }

  /** Every decision logged so far, oldest first (a torn line is skipped). */
  async readLog(): Promise<FleetLogEntry[]> {
    let text = "";
    try {
      text = await Deno.readTextFile(this.logPath);
    } catch {
      return [];
    }
    return text.split("\n").flatMap((line) => {
      try {
        return line.trim() === "" ? [] : [JSON.parse(line) as FleetLogEntry];
      } catch {
        return [];
      }
    });
  }

  /**
   * Runs `critical` holding the fleet's lock, an exclusive `flock` on
   * `lock`: every submission of the fleet, by `minionize submit` or by a
   * minion, counts the jobs and submits under it, so two never act on the
   * same count. Waits with short sleeps rather than a blocking call, which
   * on NFS has been seen to wake long after the holder died.
   *
   * @throws {FleetLockTimeout} when it stays taken past `timeoutMs`
   */
  async withLock<T>(
    critical: () => Promise<T>,
    options: FleetLockOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const file = await Deno.open(`${this.dir}/lock`, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    try {
      const started = Date.now();
      let nap = 10;
      while (!(await file.tryLock(true))) {
        if (Date.now() - started > timeoutMs) {
          throw new FleetLockTimeout(
            `the fleet's lock ${this.dir}/lock stayed taken for ${
              timeoutMs / 1000
            }s (another submission hangs, or the filesystem's locks do)`,
          );
        }
        await new Promise((resolve) =>
          setTimeout(resolve, nap / 2 + Math.random() * nap / 2)
        );
        nap = Math.min(nap * 2, 1000);
      }
      try {
        return await critical();
      } finally {
        await file.unlock();
      }
    } finally {
      file.close();
    }
  }
}

/** Writes `path` whole: a temporary file beside it, then a rename. */
async function replace(path: string, text: string, mode: number) {
  const temporary = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(temporary, text, { mode });
  await Deno.chmod(temporary, mode);
  await Deno.rename(temporary, path);
}
