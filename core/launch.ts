/**
 * Starts a minion from settings the way the CLI and `minionize()` both do:
 * open the reporter, then the engine (so a bad setting fails before anything
 * is taken), handle SIGINT/SIGTERM, run, and close everything.
 *
 * @module
 */

import type { Callback, Env } from "./contracts.ts";
import { killAll } from "./children.ts";
import type { Settings } from "./config.ts";
import { type MinionSummary, newMinionId, runMinion } from "./minion.ts";
import { ENGINES, REPORTERS } from "./registry.ts";
import { walltimeDeadline } from "./walltime.ts";

/** How {@linkcode launch} runs. */
export interface LaunchOptions {
  /** Stop gracefully on SIGINT/SIGTERM, kill at once on a second. @default {true} */
  handleSignals?: boolean;
  /** Name of the callback for events. @default {"function"} */
  callbackName?: string;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

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
  const deadline = await walltimeDeadline(settings.walltimeMs, env);
  const reporter = settings.dryRun
    ? undefined
    : await (await REPORTERS[settings.reporter]!()).open({ env, minionId });
  try {
    const plugin = await ENGINES[settings.engine]!();
    const engine = await plugin.open({
      env,
      concurrency: settings.concurrency,
      dryRun: settings.dryRun,
    });
    const stop = new AbortController();
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const onSignal = (name: Deno.Signal) => () => {
      if (stop.signal.aborted) {
        // A second signal: the user wants out now.
        killAll();
        Deno.exit(SIGNAL_EXIT[name] ?? 1);
      }
      stop.abort(name);
    };
    const listeners = signals.map((name) => [name, onSignal(name)] as const);
    if (options.handleSignals ?? true) {
      for (const [name, listener] of listeners) {
        Deno.addSignalListener(name, listener);
      }
    }
    try {
      return await runMinion({
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
        signal: stop.signal,
        minionId,
        callbackName: options.callbackName ?? "function",
      });
    } finally {
      if (options.handleSignals ?? true) {
        for (const [name, listener] of listeners) {
          Deno.removeSignalListener(name, listener);
        }
      }
      await engine.close();
    }
  } finally {
    await reporter?.close();
  }
}
