/**
 * `minionize init`: writes a commented `.minionize.yml` to start from, in
 * the working directory. It never overwrites one.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { formatOptions, type OptionSpec, parseArgs } from "./_args.ts";
import { ConfigError } from "../core/errors.ts";
import { PROJECT_FILE } from "../runner/project.ts";
import { ENGINES, REPORTERS } from "../runner/registry.ts";

const OPTIONS: readonly OptionSpec[] = [
  { long: "--help", short: "-h", help: "show this help" },
];

/** The starting file: every key, commented out, with what it does. */
export function projectTemplate(): string {
  return `# ${PROJECT_FILE}: what the minions started in this directory run, so
# that 'minionize' alone is enough. Every key is optional: remove the '# ' in
# front of the ones you need. Where a setting is given more than once, the
# first of these wins: command-line flags, environment, .env, this file.
# Try it with: minionize --dry-run

# The program to run once per param, when the command line names none. The
# param is appended, or put in place of {} / {name} / {0}; never run by a
# shell. A string is split by shell rules; a list is taken as it is.
# command: python3 train.py --lr {lr} --depth {depth}

# The queue params come from (MINION_ENGINE): ${
    Object.keys(ENGINES).join(", ")
  }.
# engine: file

# The engine's settings, and any other variable, as in .env.
# env:
#   EXECO_PERSISTENCE_DIR: sweeps   # engine execo (the default)
#   FILE_PATH: params.txt           # engine file
#   FILE_DECODER: json

# Params in flight at once (MINION_CONCURRENCY, -j).
# concurrency: 4

# Give each task its own GPUs (MINION_GPUS_PER_TASK) and CPUs
# (MINION_CPUS_PER_TASK) of this node's; concurrency then defaults to what fits.
# gpus_per_task: 1
# cpus_per_task: 8

# Extra runs of a failed param before it is recorded failed (MINION_RETRIES).
# retries: 1

# Seconds after which a run is killed and counts as failed (MINION_TIMEOUT),
# and seconds between its SIGTERM and SIGKILL (MINION_GRACE).
# timeout: 3600
# grace: 10

# Leave after this many params (MINION_MAX_PARAMS), or after this many
# seconds with nothing to take (MINION_IDLE_EXIT).
# max_params: 100
# idle_exit: 60

# Run the command through sh -c, params quoted (MINION_SHELL).
# shell: false

# Keep each param's output and a job log under this directory (MINION_RESULTS).
# results: results

# Where events go (MINION_REPORTER): ${Object.keys(REPORTERS).join(", ")}.
# reporter: json

# Run the command in this container image (MINION_CONTAINER_IMAGE), with this
# runtime (MINION_CONTAINER_RUNTIME; default: the first of podman, docker,
# apptainer, singularity on PATH) and these options of its run command
# (MINION_CONTAINER_OPTS; a list keeps each word whole).
# container: docker.io/library/python:3.12
# container_runtime: podman
# container_opts: [-v, /scratch:/scratch]

# Stop taking params when less time is left than they take (MINION_WALLTIME;
# seconds or [D-]HH:MM:SS; default: the Slurm job's end time).
# walltime: "2:00:00"

# Seconds a claimed param stays held without renewal before the queue hands
# it to another minion (MINION_LEASE; execo and brokers), and how often
# reports say a minion is alive (MINION_HEARTBEAT).
# lease: 120
# heartbeat: 30

# No line on stderr per failed param, nor the summary (MINION_QUIET).
# quiet: false

# Serve /stats and /metrics on this port of 127.0.0.1, or HOST:PORT
# (MINION_STATS); draw a progress bar on a terminal (MINION_BAR).
# stats: 9100
# bar: true
`;
}

/** Runs `minionize init` with `args`; resolves to the exit status. */
export async function init(args: string[]): Promise<number> {
  const { flags, rest } = parseArgs(args, OPTIONS, "minionize init");
  if (flags.has("--help")) {
    console.log(`Usage: minionize init

Writes a commented ${PROJECT_FILE} to start from in this directory; it never
overwrites one.

Options:
${formatOptions(OPTIONS)}`);
    return 0;
  }
  if (rest.length > 0) {
    throw new ConfigError(
      rest[0]!,
      `init takes no arguments, got ${
        rest.join(" ")
      }; edit the command in ${PROJECT_FILE} afterwards`,
    );
  }
  try {
    await Deno.writeTextFile(PROJECT_FILE, projectTemplate(), {
      createNew: true,
    });
  } catch (error) {
    throw new ConfigError(
      PROJECT_FILE,
      error instanceof Deno.errors.AlreadyExists
        ? `${PROJECT_FILE} already exists; edit it, or remove it to start over`
        : `Cannot write ${PROJECT_FILE}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  console.log(
    `wrote ${PROJECT_FILE}: uncomment what you need, then run minionize --dry-run`,
  );
  return 0;
}
