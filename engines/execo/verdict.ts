/**
 * What each check of `minionize sweep doctor` gives: a verdict with what
 * was found and the fix (see `doctor.ts`).
 *
 * @module
 */

/** How a check came out: `fail` makes the doctor exit 1. */
export type VerdictStatus = "ok" | "warn" | "fail" | "skip";

/** The outcome of one check. */
export interface Verdict {
  /** The check: mount, probe, clock, peers, lock, read or reopen. */
  check: string;
  /** How it came out. */
  status: VerdictStatus;
  /** What was found. */
  message: string;
  /** What to change, when something is wrong. */
  fix?: string;
}
