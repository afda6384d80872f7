/**
 * Telling the engine what became of a param, where a failure to tell it is
 * a warning, not the end of the minion: the queue hands the param out again.
 *
 * @module
 */

import type { Delivery } from "./contracts.ts";
import type { SettleAction } from "./outcome.ts";
import { paramText } from "./param.ts";

/** What a warning says the loop could not do, by settle action. */
const VERB: Record<Exclude<SettleAction, "none">, string> = {
  ack: "acknowledge",
  nack: "give back",
  release: "give back",
  fail: "record the failure of",
};

/** Settles one delivery as an outcome decision says. */
export type Settle = (
  action: SettleAction,
  delivery: Delivery,
  failure?: unknown,
) => Promise<void> | undefined;

/** The message of an error, or the thrown value as text. */
export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes the function that settles deliveries: `ack`, `nack`, `release`, or
 * `fail` with the failure's message; `none` does nothing.
 *
 * @param warn hears a settlement that failed
 * @returns the settle function; it never rejects
 */
export function settler(warn: (message: string) => void): Settle {
  const failed =
    (action: SettleAction, delivery: Delivery) => (error: unknown) =>
      warn(
        `could not ${VERB[action as keyof typeof VERB]} param ${
          paramText(delivery.param)
        }: ${message(error)}; the queue may hand it out again`,
      );
  return (action, delivery, failure) => {
    if (action === "none") return undefined;
    try {
      const settled = action === "fail"
        ? delivery.fail(message(failure))
        : delivery[action]();
      return settled.catch(failed(action, delivery));
    } catch (error) {
      // An engine that throws instead of rejecting.
      failed(action, delivery)(error);
      return undefined;
    }
  };
}
