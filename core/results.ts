/**
 * The results directory (`--results DIR`): each param's standard output and
 * error in a folder of its own, and one job log line per run, shared by the
 * callbacks that run programs (processes and containers).
 *
 * @module
 */

import type { JsonValue } from "./contracts.ts";
import { hostname } from "./host.ts";
import { canonicalJson, paramText } from "./param.ts";
import { formatArgv } from "./template.ts";

const encoder = new TextEncoder();

/**
 * The folder name of `param`'s outputs: a readable slug of the param and a
 * hash, so two params never share a folder and one param always gets the
 * same.
 */
export async function outputDir(param: JsonValue): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    encoder.encode(canonicalJson(param)),
  );
  const hash = Array.from(
    new Uint8Array(digest).slice(0, 4),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const slug = paramText(param).replace(/[^A-Za-z0-9._=-]+/g, "_").slice(0, 60);
  return `${slug || "param"}-${hash}`;
}

const JOBLOG_HEADER =
  "seq\tminion\thost\tstart\truntime\tattempt\texitcode\tsignal\toutput\tcommand\n";

/** One run, as a line of `joblog.tsv`. */
export interface JobRecord {
  seq: number;
  minionId: string;
  started: Date;
  attempt: number;
  status: Deno.CommandStatus;
  /** The outputs' folder, relative to the results directory. */
  output: string;
  /** What ran. */
  argv: readonly string[];
}

/**
 * Appends `record` to `resultsDir/joblog.tsv`, writing the header first when
 * the log is new. Safe with concurrent runs and minions: the header is
 * written with `createNew`, each line with one append.
 */
export async function appendJoblog(
  resultsDir: string,
  record: JobRecord,
): Promise<void> {
  const runtime = ((Date.now() - record.started.getTime()) / 1000).toFixed(3);
  const row = [
    record.seq,
    record.minionId,
    hostname(),
    record.started.toISOString(),
    runtime,
    record.attempt,
    record.status.code,
    record.status.signal ?? "",
    record.output,
    formatArgv(record.argv).replace(/[\t\n]/g, " "),
  ].join("\t");
  const path = `${resultsDir}/joblog.tsv`;
  try {
    await Deno.writeTextFile(path, JOBLOG_HEADER, { createNew: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  await Deno.writeTextFile(path, `${row}\n`, { append: true });
}
