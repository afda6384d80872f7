/**
 * The options of the `minionize` command, each with the variable it stands
 * for: the one table that the command line parser, the help and the messages
 * of the variable readers (`core/env.ts`) are made from.
 *
 * @module
 */

/** One option. */
export interface OptionSpec {
  /** `--engine` */
  long: string;
  /** `-j` */
  short?: string;
  /** The variable it sets, e.g. `MINION_ENGINE`; a switch sets it to `1`. */
  variable?: string;
  /** The name of its value in help, e.g. `N`; absent for a switch. */
  value?: string;
  /** One line of help. */
  help: string;
  /** How messages name it, when not by `long` (e.g. `-j`). */
  named?: string;
  /**
   * May be given more than once: the values are collected into the variable
   * as one list of words, each quoted by shell rules, so that a reader that
   * splits the variable by shell rules gets each value back whole.
   */
  repeatable?: boolean;
}

/** The options of the run command. */
export const RUN_OPTIONS: readonly OptionSpec[] = [
  {
    long: "--engine",
    value: "NAME",
    variable: "MINION_ENGINE",
    help: "queue to take params from: {engines} (default execo)",
  },
  {
    long: "--jobs",
    short: "-j",
    named: "-j",
    value: "N",
    variable: "MINION_CONCURRENCY",
    help: "params in flight at once (default 1)",
  },
  {
    long: "--gpus-per-task",
    value: "N",
    variable: "MINION_GPUS_PER_TASK",
    help:
      "give each slot its own N GPUs (CUDA_VISIBLE_DEVICES, ...) of this job's; -j defaults to GPUs / N",
  },
  {
    long: "--cpus-per-task",
    value: "N",
    variable: "MINION_CPUS_PER_TASK",
    help:
      "bind each slot to its own N of this minion's CPUs (taskset) and set OMP_NUM_THREADS=N; -j defaults to CPUs / N",
  },
  {
    long: "--retries",
    value: "N",
    variable: "MINION_RETRIES",
    help:
      "extra runs of a failed param before it is recorded failed (default 0)",
  },
  {
    long: "--timeout",
    value: "SECONDS",
    variable: "MINION_TIMEOUT",
    help: "kill a run after this long; it counts as a failure (default none)",
  },
  {
    long: "--grace",
    value: "SECONDS",
    variable: "MINION_GRACE",
    help: "time between SIGTERM and SIGKILL when a run must stop (default 5)",
  },
  {
    long: "--shell",
    variable: "MINION_SHELL",
    help: "run the command through sh -c, params quoted",
  },
  {
    long: "--container",
    value: "IMAGE",
    variable: "MINION_CONTAINER_IMAGE",
    help: "run PROGRAM (optional) in a new container of IMAGE per param",
  },
  {
    long: "--container-runtime",
    value: "NAME",
    variable: "MINION_CONTAINER_RUNTIME",
    help:
      "podman, docker, apptainer or singularity (default: the first on PATH)",
  },
  {
    long: "--container-opt",
    value: "OPTION",
    variable: "MINION_CONTAINER_OPTS",
    repeatable: true,
    help:
      "one word for the runtime's run command; repeatable: --container-opt=-v --container-opt=/d:/d",
  },
  {
    long: "--results",
    value: "DIR",
    variable: "MINION_RESULTS",
    help: "keep each param's stdout/stderr and a joblog.tsv under DIR",
  },
  {
    long: "--reporter",
    value: "NAME",
    variable: "MINION_REPORTER",
    help: "where events go: {reporters} (default null)",
  },
  {
    long: "--max-params",
    value: "N",
    variable: "MINION_MAX_PARAMS",
    help: "leave after taking N params",
  },
  {
    long: "--idle-exit",
    value: "SECONDS",
    variable: "MINION_IDLE_EXIT",
    help: "leave after waiting this long with nothing to take",
  },
  {
    long: "--walltime",
    value: "DURATION",
    variable: "MINION_WALLTIME",
    help:
      "stop taking params when less time is left than they take (p95); seconds or [D-]HH:MM:SS, none to disable (default: the Slurm or OAR job's end, else none)",
  },
  {
    long: "--stats",
    value: "ADDR",
    variable: "MINION_STATS",
    help:
      "serve /stats (JSON) and /metrics (Prometheus) on PORT (127.0.0.1), HOST:PORT or :PORT",
  },
  {
    long: "--bar",
    variable: "MINION_BAR",
    help: "draw a progress bar with rate and ETA on stderr, when a terminal",
  },
  {
    long: "--quiet",
    short: "-q",
    variable: "MINION_QUIET",
    help:
      "print no line on stderr per failed param, nor the summary of failures",
  },
  {
    long: "--dry-run",
    variable: "DRY",
    help: "print the command each param would run; consume nothing",
  },
  { long: "--debug", help: "print stack traces of errors" },
  { long: "--help", short: "-h", help: "show this help" },
  { long: "--version", short: "-V", help: "print the version" },
];

/** Each variable's flag, for messages: `MINION_CONCURRENCY (-j)`. */
export const FLAG_OF: Readonly<Record<string, string>> = Object.fromEntries(
  RUN_OPTIONS.filter((option) => option.variable !== undefined).map((
    option,
  ) => [option.variable!, option.named ?? option.long]),
);
