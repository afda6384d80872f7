/**
 * Helpers for the tests of `minionize submit` under real schedulers: a
 * program that notes each run, a watcher that samples the fleet's jobs,
 * and readers of what the minions and the fleet left behind.
 */

import { assertEquals } from "../_assert.ts";
import { runCli } from "../_cli.ts";

/** A sweep of the params 0..count-1 in `dir`, and the .env every job reads. */
export async function sweepIn(
  dir: string,
  count: number,
  env: string[] = [],
): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/.env`,
    [
      "MINION_ENGINE=execo",
      "EXECO_PERSISTENCE_DIR=sweeps",
      "MINION_REPORTER=json",
      "REPORTER_JSON_DIRECTORY=reports",
      ...env,
    ].join("\n") + "\n",
  );
  const lines = Array.from({ length: count }, (_, i) => `${i}\n`).join("");
  const created = await runCli(["sweep", "create", "-"], {
    cwd: dir,
    stdin: lines,
  });
  assertEquals(created.code, 0, created.stderr);
}

/**
 * The program each param runs: notes its start and end (param, job id from
 * `jobVariable`, minion) in runs.log, sleeping `seconds` in between.
 */
export async function workScript(
  dir: string,
  seconds: number,
  jobVariable: string,
): Promise<string> {
  const path = `${dir}/work.sh`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
echo "start $1 $${jobVariable} $MINION_ID" >> "${dir}/runs.log"
sleep ${seconds}
echo "end $1 $${jobVariable} $MINION_ID" >> "${dir}/runs.log"
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** One line of runs.log. */
export interface Run {
  what: "start" | "end";
  param: number;
  job: string;
  minion: string;
}

/** Every line of runs.log. */
export async function runsOf(dir: string): Promise<Run[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(`${dir}/runs.log`);
  } catch {
    return [];
  }
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const [what, param, job, minion] = line.split(" ");
    return {
      what: what as Run["what"],
      param: Number(param),
      job: job!,
      minion: minion!,
    };
  });
}

/** One JSON line of a minion's report. */
export interface ReportEvent {
  type: string;
  time: string;
  minion: string;
  job?: { scheduler: string; id: string };
  param?: number;
  outcome?: string;
  reason?: string;
  submitted?: string[];
}

/** Every event of every minion's report in `dir/reports`. */
export async function reportEvents(dir: string): Promise<ReportEvent[]> {
  const events: ReportEvent[] = [];
  try {
    for await (const entry of Deno.readDir(`${dir}/reports`)) {
      const text = await Deno.readTextFile(`${dir}/reports/${entry.name}`);
      for (const line of text.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          events.push(JSON.parse(line) as ReportEvent);
        } catch {
          // a line torn by a killed minion
        }
      }
    }
  } catch {
    // no reports yet
  }
  return events;
}

/** One decision of the fleet's log. */
export interface LogEntry {
  time: string;
  by: string;
  when: string;
  submitted: string[];
  pending?: number;
  running?: number;
  left?: number;
  note?: string;
  error?: string;
}

/** The fleet's `log.jsonl` (one fleet under `dir/minion-fleet`). */
export async function fleetLog(dir: string): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  for await (const fleet of Deno.readDir(`${dir}/minion-fleet`)) {
    const text = await Deno.readTextFile(
      `${dir}/minion-fleet/${fleet.name}/log.jsonl`,
    ).catch(() => "");
    for (const line of text.split("\n")) {
      if (line.trim() !== "") entries.push(JSON.parse(line));
    }
  }
  return entries.sort((a, b) => a.time.localeCompare(b.time));
}

/** The fleet's jobs at one moment. */
export interface Sample {
  /** ms since the watch began */
  t: number;
  pending: string[];
  running: string[];
}

/** A watch over the fleet's jobs, sampling until stopped. */
export interface Watch {
  samples: Sample[];
  /** Every job id ever seen. */
  seen: Set<string>;
  stop(): Promise<void>;
}

/** Samples `list` every `everyMs` until `stop()`. */
export function watchJobs(
  list: () => Promise<{ id: string; pending: boolean }[] | undefined>,
  everyMs = 250,
): Watch {
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const began = Date.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const jobs = await list().catch(() => undefined);
      if (jobs) {
        for (const job of jobs) seen.add(job.id);
        samples.push({
          t: Date.now() - began,
          pending: jobs.filter((j) => j.pending).map((j) => j.id),
          running: jobs.filter((j) => !j.pending).map((j) => j.id),
        });
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    samples,
    seen,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * The job count over time, for the test's output: per `stepMs` window, the
 * busiest sample, e.g. `t=12s 6 jobs (2 waiting, 4 running)`.
 */
export function timeline(samples: readonly Sample[], stepMs = 3000): string {
  const windows = new Map<number, Sample>();
  for (const s of samples) {
    const window = Math.floor(s.t / stepMs);
    const best = windows.get(window);
    const size = (x: Sample) => x.pending.length + x.running.length;
    if (!best || size(s) > size(best)) windows.set(window, s);
  }
  return [...windows].map(([window, s]) =>
    `t=${(window * stepMs) / 1000}s ${
      s.pending.length + s.running.length
    } jobs (${s.pending.length} waiting, ${s.running.length} running)`
  ).join("\n");
}

/** The params whose run ended more than once, with how many times. */
export function endedTwice(runs: readonly Run[]): Map<number, Run[]> {
  const ends = new Map<number, Run[]>();
  for (const run of runs) {
    if (run.what !== "end") continue;
    ends.set(run.param, [...(ends.get(run.param) ?? []), run]);
  }
  return new Map([...ends].filter(([, list]) => list.length > 1));
}
