/**
 * The sweep lock: an exclusive `flock` on the journal, taken with
 * non-blocking tries and short sleeps. A process blocked inside a lock call
 * on NFS has been seen to wake tens of seconds after the holder died; a
 * process that retries notices at its next try. The critical section itself
 * runs synchronously, so two deliveries of one process never interleave in
 * it (a second `flock` on the same open file would succeed).
 *
 * @module
 */

/** How {@linkcode withLock} waits. */
export interface LockOptions {
  /** Gives up (resolving undefined) when aborted. @default {never} */
  signal?: AbortSignal;
  /** Throws after waiting this long, in ms. @default {120000} */
  timeoutMs?: number;
  /** Names the lock in the timeout message. @default {"the sweep"} */
  what?: string;
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `critical` while holding an exclusive lock on `file`, and returns its
 * result; `undefined` when `signal` aborted before the lock was taken.
 * `critical` must be synchronous: the lock is held only while it runs.
 *
 * @throws {Error} when the lock stays taken past `timeoutMs`, or whatever
 * `critical` throws (the lock is released first)
 */
export async function withLock<T>(
  file: Deno.FsFile,
  critical: () => T,
  options: LockOptions = {},
): Promise<T | undefined> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const started = performance.now();
  let naps = 0;
  for (let tries = 0;; tries++) {
    if (options.signal?.aborted) return undefined;
    if (file.tryLockSync(true)) {
      try {
        return critical();
      } finally {
        file.unlockSync();
      }
    }
    const waited = performance.now() - started;
    if (waited < SPIN_MS) {
      // The holder is usually done within tens of microseconds: a short
      // blocking nap lets it run, where a timer would cost a millisecond.
      Atomics.wait(NAP, 0, 0, Math.min(0.01 * 2 ** tries, 0.5));
      continue;
    }
    if (waited > timeoutMs) {
      throw new Error(
        `could not lock ${options.what ?? "the sweep"} for ${
          timeoutMs / 1000
        }s: another process holds it (on NFS, a lock held by a lost node is freed when its NFS lease ends)`,
      );
    }
    // A long hold (a compaction, a slow filesystem): back off with jitter so
    // that waiters do not retry in step, without blocking this process.
    const ceiling = Math.min(2 ** naps++, 25);
    await sleep(ceiling / 2 + Math.random() * ceiling / 2, options.signal);
  }
}

/** How long a waiter naps synchronously before sleeping on timers, in ms. */
const SPIN_MS = 2;
const NAP = new Int32Array(new SharedArrayBuffer(4));
