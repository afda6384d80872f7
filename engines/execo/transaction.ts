/**
 * Transactions on a sweep: what one can do while its store holds the lock,
 * and the queue that runs them. Transactions asked for while another batch
 * runs or waits for the lock run together, in the order asked, under one
 * lock hold (so a minion's ack and its next claim cost one visit).
 *
 * @module
 */

import type { SweepState } from "./state.ts";

/** What a transaction can do while it holds the lock. */
export interface Transaction {
  /** The state, caught up with every record written so far. */
  readonly state: SweepState;
  /** The time the lock was taken, in ms since the epoch. */
  readonly now: number;
  /** Applies a record to the state and writes it when the transaction ends. */
  append(type: string, id: number, body: string | object): void;
}

/** How a transaction runs. */
export interface TransactOptions {
  /** Gives up before taking the lock when aborted. */
  signal?: AbortSignal;
  /** Syncs the journal to disk (outside the lock) before resolving. */
  sync?: boolean;
}

/** A transaction waiting for its turn. */
export interface Pending {
  /** What it does under the lock. */
  // deno-lint-ignore no-explicit-any
  work: (tx: Transaction) => any;
  /** How it runs. */
  options: TransactOptions;
  /** Settles it with what `work` returned. */
  resolve: (value: unknown) => void;
  /** Settles it with what went wrong. */
  reject: (error: unknown) => void;
}

/**
 * How a transaction of a batch ended: what its work returned, what it
 * threw, or undefined when it was aborted before it ran.
 */
export type Outcome = { value: unknown } | { error: unknown } | undefined;

/** Transactions of one store, run batch after batch. */
export class TransactionQueue {
  #pending: Pending[] = [];
  #running = false;
  #run: (batch: Pending[]) => Promise<void>;

  /**
   * A queue that hands every transaction waiting to `run`, as one batch,
   * whenever the previous batch is over. A batch that `run` throws on is
   * rejected whole.
   */
  constructor(run: (batch: Pending[]) => Promise<void>) {
    this.#run = run;
  }

  /** Queues `work`; settles as the batch that runs it says. */
  transact<T>(
    work: (tx: Transaction) => T,
    options: TransactOptions = {},
  ): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      this.#pending.push({
        work,
        options,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (!this.#running) this.#drain();
    });
  }

  /**
   * Settles the transactions of `batch` by their `outcomes`, in order. Those
   * after the last outcome did not run (one before them failed): they go
   * first in the next batch.
   */
  settle(batch: Pending[], outcomes: Outcome[]): void {
    this.#pending.unshift(...batch.slice(outcomes.length));
    outcomes.forEach((outcome, index) => {
      const one = batch[index]!;
      if (outcome && "error" in outcome) one.reject(outcome.error);
      else one.resolve(outcome?.value);
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        try {
          await this.#run(batch);
        } catch (error) {
          for (const one of batch) one.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
