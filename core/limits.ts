/**
 * The range of every numeric setting, in one place, so that flags, the
 * environment, `.env`, `.minionize.yml` and the docs all agree, and so that
 * no value can arm a timer past what the platform allows (a delay over
 * 2^31-1 ms fires after 1 ms in Deno, as in browsers and Node).
 *
 * @module
 */

/**
 * The longest delay one `setTimeout`/`setInterval` can be armed with:
 * 2^31-1 ms, about 24.8 days. Longer delays are chained (`core/timer.ts`).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a numeric setting allows. */
export interface Range {
  /** The smallest value allowed (whole numbers, or seconds). */
  min: number;
  /** The largest value allowed. */
  max: number;
  /** Whether only whole numbers are allowed; durations are seconds with decimals. */
  integer: boolean;
}

const DAY = 86_400;
const YEAR = 365 * DAY;

/** The shortest duration any setting takes: 1 ms, the resolution of timers. */
export const MIN_SECONDS = 0.001;

/**
 * The range of each numeric variable. A duration without its own entry
 * allows {@linkcode MIN_SECONDS} to 365 days.
 */
export const RANGES: Readonly<Record<string, Range>> = {
  MINION_CONCURRENCY: { min: 1, max: 10_000, integer: true },
  MINION_GPUS_PER_TASK: { min: 1, max: 1_024, integer: true },
  MINION_CPUS_PER_TASK: { min: 1, max: 65_536, integer: true },
  MINION_RETRIES: { min: 0, max: 1_000, integer: true },
  MINION_MAX_PARAMS: { min: 1, max: 1_000_000_000, integer: true },
  // Chained timers: a run or an idle wait may last as long as a year.
  MINION_TIMEOUT: { min: MIN_SECONDS, max: YEAR, integer: false },
  MINION_IDLE_EXIT: { min: MIN_SECONDS, max: YEAR, integer: false },
  MINION_WALLTIME: { min: MIN_SECONDS, max: YEAR, integer: false },
  MINION_GRACE: { min: MIN_SECONDS, max: DAY, integer: false },
  MINION_HEARTBEAT: { min: 0.1, max: DAY, integer: false },
  // A lease under a second would hand every running param to another
  // minion before its first renewal.
  MINION_LEASE: { min: 1, max: DAY, integer: false },
  TOP_INTERVAL: { min: 0.1, max: DAY, integer: false },
  TOP_LOST: { min: 1, max: YEAR, integer: false },
  PULSAR_NACK_DELAY: { min: MIN_SECONDS, max: DAY, integer: false },
  KAFKA_SESSION_TIMEOUT: { min: 1, max: DAY, integer: false },
  KAFKA_PARTITIONS: { min: 1, max: 10_000, integer: true },
  NATS_MAX_DELIVER: { min: 1, max: 1_000_000, integer: true },
  // One FLOW command asks for this many; it stays far below its 32 bits.
  PULSAR_PREFETCH: { min: 1, max: 100_000, integer: true },
  // minionize submit: jobs submitted at once stay within what a scheduler
  // holds (Slurm's MaxJobCount is 10,000 by default).
  "--jobs": { min: 0, max: 10_000, integer: true },
  "--backlog": { min: 0, max: 10_000, integer: true },
  "--max-jobs": { min: 1, max: 1_000_000, integer: true },
};

/** The range of a duration variable, in seconds. */
export function secondsRange(variable: string): Range {
  return RANGES[variable] ?? { min: MIN_SECONDS, max: YEAR, integer: false };
}

/** The range of a whole-number variable whose minimum is `min`. */
export function integerRange(variable: string, min: number): Range {
  return RANGES[variable] ??
    { min, max: Number.MAX_SAFE_INTEGER, integer: true };
}

/** A range as words for messages, e.g. `from 1 to 10000`. */
export function describeRange(range: Range): string {
  const max = range.integer ? String(range.max) : seconds(range.max);
  return range.integer
    ? `a whole number from ${range.min} to ${max}`
    : `a number of seconds from ${range.min} to ${max}`;
}

function seconds(value: number): string {
  if (value >= DAY && value % DAY === 0) {
    const days = value / DAY;
    return `${value} (${days} day${days === 1 ? "" : "s"})`;
  }
  return String(value);
}
