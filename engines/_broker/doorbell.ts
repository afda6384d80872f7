/**
 * A doorbell between a broker client's callbacks (a message arrived, a
 * notification came) and the engine's `next`, which waits for one of them,
 * a timeout or its signal, whichever comes first.
 *
 * @module
 */

/**
 * Wakes the one waiter of an engine's `next` (which the minion never calls
 * twice at once). A ring while nobody waits is not kept: `next` looks at its
 * buffer before it waits.
 *
 * @example
 * ```ts
 * import { Doorbell } from "./doorbell.ts";
 *
 * const bell = new Doorbell();
 * setTimeout(() => bell.ring(), 5);
 * await bell.wait(new AbortController().signal, 1_000); // after 5 ms
 * ```
 */
export class Doorbell {
  #waiter: (() => void) | undefined;

  /** Wakes the waiter, if any. */
  ring(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /**
   * Resolves at the next ring, when `signal` aborts (at once if it has), or
   * after `timeoutMs` when given.
   */
  wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (this.#waiter === done) this.#waiter = undefined;
        resolve();
      };
      const timer = timeoutMs === undefined
        ? undefined
        : setTimeout(done, timeoutMs);
      signal.addEventListener("abort", done, { once: true });
      this.#waiter = done;
    });
  }
}
