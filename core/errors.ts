/**
 * Errors callers catch. Messages say what failed, quote the value and give
 * the fix; the CLI prints them as one line.
 *
 * @module
 */

import type { StopReason } from "./contracts.ts";

/**
 * A setting is missing or malformed. The CLI prints the message and exits 2
 * before anything is taken from the queue.
 */
export class ConfigError extends Error {
  /** The variable, flag or input at fault, e.g. `MINION_CONCURRENCY`. */
  readonly variable: string;

  /**
   * Makes a configuration error.
   *
   * @param variable the variable, flag or input at fault
   * @param message what is wrong and how to fix it
   * @param options the underlying error, if any
   */
  constructor(variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** A task ended unsuccessfully: a non-zero exit, a signal or a timeout. */
export class TaskFailure extends Error {
  /** The program's exit code, when it exited. */
  readonly exitCode: number | undefined;
  /** The signal that ended the program, when one did. */
  readonly signal: string | undefined;
  /**
   * Where the program's standard output and error went: the directory
   * holding them (`--results`), or `inherit` when they went to the
   * minion's own; unset when no program ran.
   */
  readonly output: string | undefined;

  /**
   * Makes a task failure.
   *
   * @param message what happened, e.g. `'a.out' exited with code 3`
   * @param details the exit code or signal, and where the output went
   */
  constructor(
    message: string,
    details: {
      exitCode?: number;
      signal?: string;
      output?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: details.cause });
    this.name = "TaskFailure";
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.output = details.output;
  }
}

/** The reason a task's signal is aborted with. */
export class TaskStop extends Error {
  /** `timeout` when the task ran too long, `shutdown` when the minion stops. */
  readonly reason: StopReason;

  /**
   * Makes the reason a task's signal is aborted with.
   *
   * @param reason why the task must stop
   * @param message what to report, e.g. `timed out after 30s`
   */
  constructor(reason: StopReason, message: string) {
    super(message);
    this.name = "TaskStop";
    this.reason = reason;
  }
}
