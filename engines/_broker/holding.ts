/**
 * What a minion holds of a broker's queue: how many deliveries are out and
 * not settled, how long tasks keep them (so that short tasks get a batch
 * read ahead and long ones do not sit on params another minion could run),
 * and the guard that lets each delivery be settled once.
 *
 * @module
 */

/** Tasks shorter than this (on average) get the next batch read ahead. */
export const SHORT_TASK_MS = 50;

/** One held delivery's guard, from {@linkcode Holdings.take}. */
export interface Hold {
  /** Whether it was settled (acked, given back, failed). */
  readonly settled: boolean;
  /**
   * Runs `act` the first time only, counting the delivery settled; later
   * calls resolve at once and do nothing.
   */
  settle(act: () => unknown): Promise<void>;
}

/** The deliveries one engine has handed out and not yet settled. */
export class Holdings {
  /** How many are out. */
  held = 0;
  // A moving average of how long a delivery is held, in ms.
  #taskMs = Infinity;

  /** Whether tasks are short: read a batch ahead of them. */
  get short(): boolean {
    return this.#taskMs < SHORT_TASK_MS;
  }

  /** Counts one more held delivery and returns its guard. */
  take(): Hold {
    this.held++;
    const taken = performance.now();
    let settled = false;
    return {
      get settled() {
        return settled;
      },
      settle: async (act) => {
        if (settled) return;
        settled = true;
        this.held--;
        const spent = performance.now() - taken;
        this.#taskMs = this.#taskMs === Infinity
          ? spent
          : 0.8 * this.#taskMs + 0.2 * spent;
        await act();
      },
    };
  }
}

/**
 * How often a held delivery is renewed under a lease of `leaseMs`: every
 * third of it, so two renewals may fail before the lease runs out.
 */
export function renewEvery(leaseMs: number): number {
  return Math.max(100, Math.floor(leaseMs / 3));
}
