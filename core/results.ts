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
 * The folder name of `param`'s outputs: a readable slug of the param (at
 * most 60 characters) and 128 bits of its SHA-256, so that two params never
 * share a folder (two long params with one prefix differ in the digest, and
 * a clash of 128-bit digests is out of reach) and one param always gets the
 * same name.
 */
export async function outputDir(param: JsonValue): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(canonicalJson(param)),
  );
  const hash = Array.from(
    new Uint8Array(digest).slice(0, 16),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const slug = paramText(param).replace(/[^A-Za-z0-9._=-]+/g, "_").slice(0, 60);
  return `${slug || "param"}-${hash}`;
}

/**
 * Makes the folder of one run of `param` under `resultsDir` and returns its
 * name: `outputDir(param)` for the first run, then `<that>.2`, `<that>.3`,
 * ... for later runs of the same param (a retry, a redelivery, a duplicate
 * line), so no run's output ever overwrites an earlier one's. Each folder is
 * claimed with one `mkdir`, which is atomic, also between minions sharing
 * the directory over NFS.
 *
 * @throws whatever `mkdir` throws other than "already exists"
 */
export async function claimRunDir(
  resultsDir: string,
  param: JsonValue,
): Promise<string> {
  const base = await outputDir(param);
  for (let run = 1;; run++) {
    const name = run === 1 ? base : `${base}.${run}`;
    try {
      await Deno.mkdir(`${resultsDir}/${name}`);
      return name;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        // The results directory was removed while the minion ran.
        await Deno.mkdir(resultsDir, { recursive: true });
        run--;
      } else if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
}

/** Creates `path` for a run's output; it never replaces an existing file. */
export async function createOutput(path: string): Promise<Deno.FsFile> {
  return await Deno.open(path, { write: true, createNew: true });
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
