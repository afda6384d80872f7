/**
 * Starts a minion from settings the way the CLI and `minionize()` both do:
 * open the reporter, then the engine (so a bad setting fails before anything
 * is taken), handle SIGINT/SIGTERM, run, and close everything.
 *
 * @module
 */

import type {
  Callback,
  Env,
  MinionEvent,
  Reporter,
  StopCause,
} from "../core/contracts.ts";
import type { ProgressBar } from "./bar.ts";
import { failureLine, summaryLine } from "./failure_log.ts";
import { killAll, warnChildrenTo } from "../core/children.ts";
import type { Settings } from "./config.ts";
import {
  hostname,
  type MinionSummary,
  newMinionId,
  runMinion,
} from "../core/minion.ts";
import { exitCode } from "../core/outcome.ts";
import { ENGINES, REPORTERS } from "./registry.ts";
import { walltimeDeadline } from "../core/walltime.ts";
import { schedulerJob } from "../core/scheduler_job.ts";
import type { StatsServer } from "./stats_server.ts";
import type { TextSink } from "./stderr.ts";
import { startWatchdog } from "./watchdog.ts";

/** How {@linkcode launch} runs. */
export interface LaunchOptions {
  /** Stop gracefully on SIGINT/SIGTERM, kill at once on a second. @default {true} */
  handleSignals?: boolean;
  /** Name of the callback for events. @default {"function"} */
  callbackName?: string;
  /**
   * Receives one line per failed run and, when the minion saw failures, a
   * summary as it leaves (nothing with `settings.quiet`).
   * @default {nobody}
   */
  log?: (line: string) => void;
  /**
   * Called with the exit code on a second SIGINT/SIGTERM, once the programs
   * are killed: the CLI exits the process with it. @default {nothing: the
   * minion returns as the first signal's shutdown ends}
   */
  onSecondSignal?: (exitCode: number) => void;
  /**
   * Where the minion's own text goes: warnings, notices, the stats address,
   * fleet top-ups and the progress bar (drawn only when it is a terminal).
   * @default {nowhere}
   */
  stderr?: TextSink;
  /**
   * Lines for stderr once the engine is open, when no setting can fail any
   * more (how the node's GPUs and CPUs were split, ...): a bad setting must
   * stay the only line. @default {none}
   */
  notices?: readonly string[];
}

/** One reporter that tells every one of `reporters`, in order. */
function fanOut(reporters: Reporter[]): Reporter {
  return {
    async report(event: MinionEvent) {
      const results = await Promise.allSettled(
        reporters.map((r) => r.report(event)),
      );
      const failed = results.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
    async close() {
      for (const r of reporters) await r.close();
    },
  };
}

/**
 * Opens what `settings` name and runs a minion with `callback`.
 *
 * @throws {ConfigError} when an engine or reporter setting is bad
 */
export async function launch(
  callback: Callback,
  settings: Settings,
  env: Env,
  options: LaunchOptions = {},
): Promise<MinionSummary> {
  const minionId = newMinionId();
  const job = schedulerJob(env);
  const deadline = await walltimeDeadline(settings.walltimeMs, env);
  // With the `null` reporter (the default) nobody listens, so the loop is
  // given no reporter at all and builds no events: about 5 µs a param,
  // which matters for brokers that hand out params in microseconds.
  const chosen = settings.dryRun || settings.reporter === "null"
    ? undefined
    : await (await REPORTERS[settings.reporter]!()).open({ env, minionId });
  // The stats hear the same events as the chosen reporter, beside it.
  const say = options.stderr?.write ?? (() => {});
  const warn = (text: string) => say(`minionize: warning: ${text}\n`);
  const bar = settings.bar && !settings.dryRun &&
    (options.stderr?.isTerminal() ?? false);
  // Stats, their server and the bar are loaded only when asked for: a
  // minion's start-up is mostly loading modules.
  const stats = !settings.dryRun && (settings.stats || bar)
    ? new (await import("../core/stats.ts")).MinionStats({
      minion: minionId,
      host: hostname(),
      pid: Deno.pid,
    })
    : undefined;
  const reporter = chosen && stats ? fanOut([chosen, stats]) : chosen ?? stats;
  let server: StatsServer | undefined;
  let progress: ProgressBar | undefined;
  const warnedBefore = warnChildrenTo(warn);
  try {
    const plugin = await ENGINES[settings.engine]!();
    const engine = await plugin.open({
      env,
      concurrency: settings.concurrency,
      dryRun: settings.dryRun,
      warn,
    });
    if (stats && settings.stats) {
      try {
        const { serveStats } = await import("./stats_server.ts");
        server = serveStats(stats, settings.stats, {
          remaining: async () => await engine.remaining?.(),
        });
      } catch (error) {
        await engine.close();
        throw error;
      }
      say(
        `minionize: stats on ${server.url}/stats and ${server.url}/metrics\n`,
      );
    }
    for (const line of options.notices ?? []) {
      say(`${line}\n`);
    }
    if (stats && bar) {
      const { ProgressBar } = await import("./bar.ts");
      progress = await ProgressBar.start(stats, engine, { write: say });
    }
    // A minion killed at once (kill -9) would leave its programs running:
    // a watchdog stops them (runner/watchdog.ts).
    // Plain functions start no program carrying MINION_ID; any other
    // callback (ProcessCallback, a subclass, a container) may.
    const watchdog = !settings.dryRun &&
        (options.callbackName ?? "function") !== "function"
      ? startWatchdog(minionId, settings.graceMs)
      : undefined;
    const stop = new AbortController();
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const onSignal = (name: Deno.Signal) => () => {
      if (stop.signal.aborted) {
        // A second signal: the user wants out now.
        killAll();
        options.onSecondSignal?.(exitCode({ reason: "signal", signal: name }));
      }
      stop.abort(name);
    };
    const listeners = signals.map((name) => [name, onSignal(name)] as const);
    if (options.handleSignals ?? true) {
      for (const [name, listener] of listeners) {
        Deno.addSignalListener(name, listener);
      }
    }
    const log = settings.quiet || !options.log ? undefined : (
      line: string,
    ) =>
      // A line over the progress bar clears it; the next frame redraws it.
      options.log!(progress ? `\r\x1b[K${line}` : line);
    // A job of a fleet `minionize submit` started tops the fleet up as it
    // starts (beside its first params) and as it leaves.
    const fleet = env.MINION_FLEET?.trim() && !settings.dryRun
      ? await import("../schedulers/minion_top_up.ts")
      : undefined;
    const topUp = (when: "start" | "leave", reason?: StopCause) =>
      fleet?.minionTopUp({
        when,
        env,
        engine,
        ...(reason ? { reason } : {}),
        minionId,
        say: (line) => {
          if (settings.quiet && !line.startsWith("warning:")) return;
          say(`minionize: ${line}\n`);
        },
        ...(reporter
          ? {
            report: async (fields) =>
              await reporter.report({
                type: "fleet.topup",
                time: new Date().toISOString(),
                minion: minionId,
                host: hostname(),
                pid: Deno.pid,
                ...(job ? { job } : {}),
                ...fields,
              }),
          }
          : {}),
      });
    let summary: MinionSummary | undefined;
    let atStart: Promise<void> | undefined;
    try {
      const running = runMinion({
        engine,
        callback,
        ...(reporter ? { reporter } : {}),
        concurrency: settings.concurrency,
        retries: settings.retries,
        ...(settings.timeoutMs === undefined
          ? {}
          : { timeoutMs: settings.timeoutMs }),
        ...(settings.maxParams === undefined
          ? {}
          : { maxParams: settings.maxParams }),
        ...(settings.idleExitMs === undefined
          ? {}
          : { idleExitMs: settings.idleExitMs }),
        ...(deadline === undefined ? {} : { deadline }),
        dryRun: settings.dryRun,
        heartbeatMs: settings.heartbeatMs,
        signal: stop.signal,
        minionId,
        ...(job ? { job } : {}),
        callbackName: options.callbackName ?? "function",
        warn,
        ...(log ? { onFailure: (event) => log(failureLine(event)) } : {}),
      });
      atStart = topUp("start");
      summary = await running;
      await progress?.stop();
      progress = undefined;
      const last = summaryLine(summary);
      if (log && last !== undefined) log(last);
      return summary;
    } finally {
      await atStart;
      await topUp("leave", summary?.reason ?? "error");
      if (options.handleSignals ?? true) {
        for (const [name, listener] of listeners) {
          Deno.removeSignalListener(name, listener);
        }
      }
      await watchdog?.release();
      await progress?.stop();
      await engine.close();
    }
  } finally {
    warnChildrenTo(warnedBefore);
    await server?.close();
    await reporter?.close();
  }
}
