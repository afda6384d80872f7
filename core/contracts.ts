/**
 * The contracts every plug-in implements: engines hand out deliveries,
 * callbacks run them, reporters hear about them. The minion loop in
 * `core/minion.ts` is the only code that knows all three.
 *
 * @module
 */

/** Any value a queue can carry: params are JSON values. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * One param handed to this minion by an engine, with the means to settle it.
 *
 * Exactly one of `ack`, `nack`, `release` or `fail` is called per delivery.
 */
export interface Delivery {
  /** The decoded param (the raw text when `malformed` is set). */
  readonly param: JsonValue;
  /**
   * How many times the queue has handed this param out, this time included
   * (1 on the first delivery). Engines that cannot tell say 1.
   */
  readonly attempt: number;
  /** The queue's own identifier for the message, for logs. */
  readonly id: string;
  /**
   * Set when the message could not be decoded (for example not JSON under a
   * JSON decoder): the minion records it failed at once, without running it.
   */
  readonly malformed?: string;
  /** The task succeeded: remove the param from the queue for good. */
  ack(): Promise<void>;
  /** The task failed and may be retried: give the param back for redelivery. */
  nack(): Promise<void>;
  /**
   * The minion is stopping and did not finish the task: give the param back
   * at once, without counting it as a failed attempt where the queue allows.
   */
  release(): Promise<void>;
  /**
   * The task failed for good: record it as failed (failed state, dead-letter
   * destination, or a plain ack where the queue keeps no failures).
   */
  fail(reason: string): Promise<void>;
  /** Keeps the claim alive; called every `Engine.renewEveryMs` while it runs. */
  renew?(): Promise<void>;
}

/** A queue, seen from one minion. */
export interface Engine {
  /** The name it is registered under, e.g. `file`. */
  readonly name: string;
  /**
   * Whether `nack` makes the queue hand the param out again. When false the
   * minion retries a failed task in place instead.
   */
  readonly redelivers: boolean;
  /** How often held deliveries must be renewed, when the queue leases them. */
  readonly renewEveryMs?: number;
  /**
   * The next delivery, or `undefined` once the queue is drained. Never called
   * twice at once by the minion. When `signal` aborts, resolves `undefined`
   * (or rejects with the signal's reason) and keeps nothing claimed.
   */
  next(signal: AbortSignal): Promise<Delivery | undefined>;
  /** How many params remain to be taken, when the queue can tell cheaply. */
  remaining?(): Promise<number | undefined>;
  /** Gives back whatever is still held and closes connections. */
  close(): Promise<void>;
}

/** Environment as the minion sees it: process environment over `.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

/** What an engine is opened with. */
export interface EngineOptions {
  /** Variables to read the engine's settings from (e.g. `FILE_PATH`). */
  env: Env;
  /** How many deliveries the minion keeps in flight at once. */
  concurrency: number;
  /**
   * Dry run: hand out each pending param once without claiming or consuming
   * it; the minion only prints what it would run.
   */
  dryRun: boolean;
  /**
   * Tells the user something is wrong but the engine carries on (e.g. a
   * broker it keeps reconnecting to), as one line without the
   * `minionize: warning: ` prefix. Library code never writes to stderr
   * itself: `launch` passes the one writing to its stderr sink.
   * @default {warnings are dropped}
   */
  warn?: (message: string) => void;
}

/** What `minionize publish` gives an engine. */
export interface PublishOptions {
  /** Variables to read the engine's settings from. */
  env: Env;
  /** Create the queue (topic, table, stream, ...) when it does not exist. */
  create: boolean;
  /**
   * Tells the user something is wrong but publishing carries on, as for
   * {@linkcode EngineOptions.warn}.
   * @default {warnings are dropped}
   */
  warn?: (message: string) => void;
}

/**
 * How big a queue is, read without taking anything: for progress and ETAs.
 */
export interface QueueCensus {
  /** Params the queue holds in all, finished or not. */
  total: number;
  /**
   * Params finished (done or failed), when the queue keeps track; otherwise
   * readers count finished runs from the minions' reports.
   */
  finished?: number;
}

/** An engine module, as found through the registry. */
export interface EnginePlugin {
  /** Opens the queue for consuming. Throws `ConfigError` on bad settings. */
  open(options: EngineOptions): Promise<Engine>;
  /** Puts params onto the queue; resolves to how many were added. */
  publish?(
    params: AsyncIterable<JsonValue>,
    options: PublishOptions,
  ): Promise<number>;
  /**
   * How `minionize publish` reads input lines for this queue when neither
   * `--json` nor `--lines` is given. An engine whose messages are text read
   * by a decoder implements it (`json` under a JSON decoder, `lines` under
   * `identity`), so that each line reaches minions as written.
   * @default {"auto": a line that reads as JSON is that value, else text}
   */
  lineFormat?(env: Env): LineFormat;
  /**
   * Counts the queue that `env` names without claiming anything, or
   * `undefined` when it cannot tell cheaply (standard input, a pipe).
   */
  census?(env: Env): Promise<QueueCensus | undefined>;
}

/**
 * How input lines become params: `json` (each line a JSON value), `lines`
 * (each line a text param) or `auto` (JSON when it parses, else text).
 */
export type LineFormat = "json" | "lines" | "auto";

/** Why a task's signal was aborted. */
export type StopReason = "timeout" | "shutdown";

/** What a callback knows about the task it runs. */
export interface TaskContext {
  /** The minion's id (also given to programs as `MINION_ID`). */
  readonly minionId: string;
  /** The attempt number, 1 for the first run of this param. */
  readonly attempt: number;
  /** Sequence number of the param in this minion, from 1. */
  readonly seq: number;
  /**
   * The slot the task runs in, 1 to the minion's concurrency: no two tasks
   * running at once share one, and a slot is reused once its task ends
   * (GNU parallel's job slot; given to programs as `MINION_SLOT`).
   */
  readonly slot: number;
  /**
   * Aborted when the task must stop: its reason is a `TaskStop` saying
   * whether the timeout passed or the minion is shutting down.
   */
  readonly signal: AbortSignal;
}

/**
 * Runs params. `process` decides the outcome: resolving is success, throwing
 * is failure (a `TaskFailure` carries the exit code).
 */
export interface Callback {
  /** Prepares one param's run; its time is reported as `setup`. */
  setup?(param: JsonValue, context: TaskContext): Promise<void> | void;
  /** Runs one param. */
  process(param: JsonValue, context: TaskContext): Promise<void> | void;
  /** Cleans up after `process`, whatever its result; reported as `teardown`. */
  teardown?(param: JsonValue, context: TaskContext): Promise<void> | void;
  /** One line saying what would run for `param` (in `slot`), for dry runs. */
  describe?(param: JsonValue, slot?: number): string;
}

/** How a param's run ended. */
export type Outcome =
  /** succeeded and acknowledged */
  | "done"
  /** failed for good: recorded failed or sent to the dead-letter place */
  | "failed"
  /** failed, and will be run again (here or by another minion) */
  | "retried"
  /** not finished because the minion stopped: given back, not counted */
  | "requeued";

/** Milliseconds spent in each phase of one param's run. */
export interface PhaseTimings {
  /** waiting for the engine to hand the param out */
  next: number;
  /** in the callback's `setup` */
  setup: number;
  /** in the callback's `process`: the task itself */
  process: number;
  /** in the callback's `teardown` */
  teardown: number;
}

/** The batch job a minion runs in, as its scheduler names it. */
export interface SchedulerJob {
  /** `slurm`, `oar` or `pbs`. */
  scheduler: string;
  /** The job's own id: `SLURM_JOB_ID`, `OAR_JOB_ID` or `PBS_JOBID`. */
  id: string;
  /** The array job it belongs to, if any (`SLURM_ARRAY_JOB_ID`, `OAR_ARRAY_ID`). */
  array?: string;
  /** Its index in that array (`SLURM_ARRAY_TASK_ID`, `OAR_ARRAY_INDEX`, `PBS_ARRAY_INDEX`). */
  index?: string;
}

/** Fields every event carries. */
export interface EventBase {
  /** ISO 8601 time the event happened. */
  time: string;
  /** The minion's id. */
  minion: string;
  /** Host name of the minion's machine. */
  host: string;
  /** Process id of the minion. */
  pid: number;
  /** The batch job the minion runs in, when it runs in one. */
  job?: SchedulerJob;
}

/** Every event a minion emits, by type. */
export interface MinionEventMap {
  /** A minion began taking params. */
  "minion.started": EventBase & {
    engine: string;
    callback: string;
    concurrency: number;
  };
  /** A run of a param began. */
  "param.started": EventBase & {
    seq: number;
    param: JsonValue;
    attempt: number;
    /** The slot it runs in (absent in reports of older minions). */
    slot: number;
  };
  /** A run of a param ended, with its outcome. */
  "param.finished": EventBase & {
    seq: number;
    param: JsonValue;
    attempt: number;
    outcome: Outcome;
    /** The slot it ran in (absent in reports of older minions). */
    slot: number;
    timings: PhaseTimings;
    error?: string;
    exitCode?: number;
    /** The signal that ended the program, when one did. */
    signal?: string;
    /** Where a failed program's output went: a directory, or `inherit`. */
    output?: string;
  };
  /**
   * The minion is alive, sent every `MINION_HEARTBEAT` while it runs, so that
   * a reader of reports can tell a long task from a killed minion.
   */
  "minion.heartbeat": EventBase & { inFlight: number };
  /**
   * The minion's job looked at its fleet (`minionize submit`) when it
   * started or as it left, and submitted jobs, or did not and says why.
   */
  "fleet.topup": EventBase & {
    /** The fleet's name (the jobs' name in the scheduler). */
    fleet: string;
    /** `start` or `leave`. */
    when: string;
    /** Ids of the jobs it submitted. */
    submitted: string[];
    /** The fleet's jobs waiting to start, before it submitted. */
    pending?: number;
    /** The fleet's jobs started and not yet gone, before it submitted. */
    running?: number;
    /** Params the queue still holds, when known. */
    left?: number;
    /** Why it submitted no more than that. */
    note?: string;
    /** What failed: a submission, the scheduler's listing. */
    error?: string;
  };
  /** A minion left, with why and its exit status. */
  "minion.stopped": EventBase & {
    reason: StopCause;
    exitCode: number;
    done: number;
    failed: number;
  };
}

/** Why a minion left. */
export type StopCause =
  | "drained"
  | "max-params"
  | "idle"
  | "signal"
  | "walltime"
  | "error";

/** One event, tagged with its `type`. */
export type MinionEvent = {
  [K in keyof MinionEventMap]: { type: K } & MinionEventMap[K];
}[keyof MinionEventMap];

/** Hears every event of one minion. */
export interface Reporter {
  /** Called in order; the minion does not wait for more than the promise. */
  report(event: MinionEvent): Promise<void> | void;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** What a reporter module is opened with. */
export interface ReporterOptions {
  /** Variables to read the reporter's settings from. */
  env: Env;
  /** The id of the minion it reports for. */
  minionId: string;
}

/** A reporter module, as found through the registry. */
export interface ReporterPlugin {
  /** Opens the reporter. Throws `ConfigError` on bad settings. */
  open(options: ReporterOptions): Promise<Reporter>;
}
