/**
 * Engine `execo`, the default: a queue in a directory of a shared
 * filesystem (NFS), with no server. Params are JSON values kept as a set;
 * claims are leased and renewed while a task runs, so a param whose minion
 * was killed goes back to the queue by itself. A directory holding a sweep
 * written by Python execo's `ParamSweeper` is imported on first use.
 *
 * Settings: `EXECO_PERSISTENCE_DIR` (default `sweeps`), `MINION_LEASE`
 * (seconds, default 60). The on-disk format and its behaviour on NFS are
 * described in `docs/execo.md`.
 *
 * @example Create a sweep and run it
 * ```ts
 * import { execoEngine } from "./mod.ts";
 * import { createSweep } from "./sweep.ts";
 *
 * const dir = await Deno.makeTempDir();
 * (await createSweep(dir, [1, 2, 3])).store.close();
 * const env = { EXECO_PERSISTENCE_DIR: dir };
 * const engine = await execoEngine.open({ env, concurrency: 1, dryRun: false });
 * const signal = new AbortController().signal;
 * for (let d = await engine.next(signal); d; d = await engine.next(signal)) {
 *   await d.ack();
 * }
 * await engine.close();
 * ```
 *
 * @module
 */

import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
  QueueCensus,
} from "../../core/contracts.ts";
import { readLease } from "../../core/env.ts";
import { dryQueue, sweepQueue } from "./queue.ts";
import {
  addParams,
  createSweep,
  DEFAULT_DIR,
  openSweep,
  sweepCensus,
  sweepConfigError,
  todoTexts,
} from "./sweep.ts";
import { LOG, SweepError } from "./store.ts";

const VARIABLE = "EXECO_PERSISTENCE_DIR";
/** Where warnings go when the caller gave no `warn`: nowhere. */
const dropped = (_message: string): void => {};

/** The sweep directory and lease that `env` names. */
export function execoSettings(env: Env): { dir: string; leaseMs: number } {
  return {
    dir: env[VARIABLE]?.trim() || DEFAULT_DIR,
    leaseMs: readLease(env),
  };
}

/**
 * Opens the sweep of `EXECO_PERSISTENCE_DIR` as a queue.
 *
 * @throws {ConfigError} when the directory is missing, holds no sweep or is
 * damaged beyond repair (no file is changed then)
 */
async function open(options: EngineOptions): Promise<Engine> {
  const { dir, leaseMs } = execoSettings(options.env);
  const warn = options.warn ?? dropped;
  try {
    if (options.dryRun) return dryQueue(await todoTexts(dir, options.env));
    const store = await openSweep(dir, {
      leaseMs,
      env: options.env,
      warn,
      onRepair: (bytes) =>
        warn(
          `voided ${bytes} bytes of a record torn by a crash at the end of ${dir}/${LOG} (nothing was cut; every complete record stays)`,
        ),
    });
    return sweepQueue(store, {
      leaseMs,
      warn,
      concurrency: options.concurrency,
    });
  } catch (error) {
    throw sweepConfigError(error, VARIABLE, dir);
  }
}

/**
 * Adds params to the sweep of `EXECO_PERSISTENCE_DIR`; a param already
 * there is left alone. With `create`, a missing sweep is created.
 *
 * @returns how many params were new
 * @throws {ConfigError} when there is no sweep (and `create` is false) or it
 * cannot be written
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const { dir, leaseMs } = execoSettings(options.env);
  try {
    let store;
    try {
      store = await openSweep(dir, {
        leaseMs,
        env: options.env,
        warn: options.warn ?? dropped,
      });
    } catch (error) {
      const absent = error instanceof SweepError &&
        (error.problem === "missing" || error.problem === "not-a-sweep");
      if (!options.create || !absent) throw error;
      store = (await createSweep(dir, [], options.env)).store;
    }
    try {
      return await addParams(store, params);
    } finally {
      store.close();
    }
  } catch (error) {
    throw sweepConfigError(error, VARIABLE, dir);
  }
}

/**
 * Counts the sweep of `EXECO_PERSISTENCE_DIR` for `minionize top`, or
 * `undefined` when there is none (yet).
 */
async function census(env: Env): Promise<QueueCensus | undefined> {
  try {
    return await sweepCensus(execoSettings(env).dir, env);
  } catch (error) {
    if (error instanceof SweepError) return undefined;
    throw error;
  }
}

/** The `execo` engine plug-in. */
export const execoEngine: EnginePlugin = { open, publish, census };
