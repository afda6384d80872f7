/**
 * The top-up a minion job does for its fleet when it starts and as it
 * leaves (`MINION_FLEET` names the fleet's directory, set by the job script
 * `minionize submit` writes). It never fails the minion: what went wrong is
 * a line on stderr and a `fleet.topup` event in its report.
 *
 * @module
 */

import type {
  Engine,
  Env,
  MinionEventMap,
  StopCause,
} from "../core/contracts.ts";
import { FleetDir } from "./fleet_dir.ts";
import { topUp, type TopUpResult } from "./top_up.ts";

/** The fields of a `fleet.topup` event, without those every event has. */
export type TopUpEvent = Omit<
  MinionEventMap["fleet.topup"],
  "time" | "minion" | "host" | "pid" | "job"
>;

/** What the minion gives its top-up. */
export interface MinionTopUpOptions {
  /** `start` or `leave`. */
  when: "start" | "leave";
  /** The minion's settings (`MINION_FLEET`, the engine's variables). */
  env: Env;
  /** The minion's open engine. */
  engine?: Engine;
  /** Why it leaves, when leaving. */
  reason?: StopCause;
  /** The minion's id, for the fleet's log. */
  minionId: string;
  /** Prints one line on stderr (without the `minionize: ` prefix). */
  say: (line: string) => void;
  /** Puts a `fleet.topup` event in the minion's report. */
  report?: (event: TopUpEvent) => Promise<void>;
}

function describe(result: TopUpResult): string {
  const counts = result.pending === undefined
    ? ""
    : `; before: ${result.pending} waiting, ${result.running} running${
      result.left === undefined ? "" : `, ${result.left} params left`
    }`;
  const ids = result.submitted.length > 0
    ? ` (${result.submitted.join(" ")})`
    : "";
  const n = result.submitted.length;
  return `submitted ${n} job${n === 1 ? "" : "s"}${ids}${counts}${
    result.note ? ` (${result.note})` : ""
  }`;
}

/** Tops the fleet of `MINION_FLEET` up, if any; never throws. */
export async function minionTopUp(options: MinionTopUpOptions): Promise<void> {
  const dir = options.env.MINION_FLEET?.trim();
  if (!dir) return;
  const name = dir.split("/").filter((part) => part !== "").at(-1) ?? dir;
  let result: TopUpResult;
  try {
    result = await topUp({
      fleet: new FleetDir(dir),
      when: options.when,
      by: options.minionId,
      env: options.env,
      ...(options.engine ? { engine: options.engine } : {}),
      ...(options.reason ? { reason: options.reason } : {}),
    });
  } catch (error) {
    result = {
      fleet: name,
      submitted: [],
      error: error instanceof Error ? error.message : String(error),
    };
  }
  if (result.error !== undefined) {
    options.say(
      `warning: fleet ${result.fleet}: could not top up: ${result.error}${
        result.gaveUp
          ? "; stopped submitting until minionize submit runs again"
          : ""
      }`,
    );
  } else if (result.pending === undefined) {
    options.say(`fleet ${result.fleet}: submitted nothing: ${result.note}`);
  } else {
    options.say(`fleet ${result.fleet}: ${describe(result)}`);
  }
  try {
    await options.report?.({
      fleet: result.fleet,
      when: options.when,
      submitted: result.submitted,
      ...(result.pending === undefined ? {} : { pending: result.pending }),
      ...(result.running === undefined ? {} : { running: result.running }),
      ...(result.left === undefined ? {} : { left: result.left }),
      ...(result.note === undefined ? {} : { note: result.note }),
      ...(result.error === undefined ? {} : { error: result.error }),
    });
  } catch {
    // The report is the minion's; its failures are reported there.
  }
}
