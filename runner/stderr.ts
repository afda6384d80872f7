/**
 * The process's standard error as a sink for the minion's own text. Library
 * code writes to the sink it is given, never to stderr itself: the CLI
 * hands this one to `launch`, and `minionize()` uses it when its caller
 * gives none (its documented default).
 *
 * @module
 */

/** Where a minion's own text goes: warnings, notices, the progress bar. */
export interface TextSink {
  /** Writes `text` as is (lines end with their own newline). */
  write(text: string): void;
  /** Whether it is a terminal a progress bar can be drawn on. */
  isTerminal(): boolean;
}

const encoder = new TextEncoder();

/** Writes all of `text` to standard error. */
function writeAll(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

/** Standard error as a {@linkcode TextSink}. */
export const stderrSink: TextSink = {
  write: writeAll,
  isTerminal: () => Deno.stderr.isTerminal(),
};

/** Writes `line` and a newline to standard error. */
export function writeStderr(line: string): void {
  writeAll(`${line}\n`);
}
