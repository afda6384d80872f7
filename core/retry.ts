/**
 * Doing an operation again while its failure is one worth waiting out (a
 * broker restarting, a connection dropped), with a doubling pause.
 *
 * @module
 */

import { delay } from "./async.ts";

/** How {@linkcode retryWhile} waits. */
export interface RetryWhileOptions {
  /** Stop trying (and throw the last error) once this aborts. @default {never} */
  signal?: AbortSignal | undefined;
  /** Stop trying after this long, in ms. @default {Infinity} */
  patienceMs?: number;
  /** The first pause, doubled after each failure up to 2 s. @default {100} */
  firstDelayMs?: number;
}

/**
 * Runs `act` until it succeeds, pausing and trying again while `retryable`
 * says its error is worth waiting out.
 *
 * @param act the operation
 * @param retryable whether an error is worth waiting out
 * @param options when to give up
 * @returns what `act` returned
 * @throws the first error `retryable` rejects, or the last one once the
 * signal aborted or the patience ran out
 */
export async function retryWhile<T>(
  act: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  options: RetryWhileOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.patienceMs ?? Infinity);
  let wait = options.firstDelayMs ?? 100;
  while (true) {
    try {
      return await act();
    } catch (error) {
      if (
        !retryable(error) || options.signal?.aborted || Date.now() > deadline
      ) {
        throw error;
      }
      // A stop ends the pause at once, with the last error.
      await delay(wait, { signal: options.signal }).catch(() => {
        throw error;
      });
      wait = Math.min(wait * 2, 2_000);
    }
  }
}
