/**
 * The sweep lock: an exclusive `flock` on the journal, taken with
 * non-blocking tries and short sleeps. A process blocked inside a lock call
 * on NFS has been seen to wake tens of seconds after the holder died; a
 * process that retries notices at its next try. The critical section itself
 * runs synchronously, so two deliveries of one process never interleave in
 * it (a second `flock` on the same open file would succeed).
 *
 * On a shared filesystem `flock` may hold on one host only (NFS `nolock`
 * or `local_lock`, Lustre `localflock`, BeeGFS without global file locks,
 * some FUSE filesystems), and nothing on a node tells. So there the holder
 * of the `flock` also creates a mark beside the journal, a symbolic link
 * whose target names it (host, pid, start time), which every filesystem
 * creates atomically on its server or fails to, and removes it when done:
 * that mark is what excludes writers. Finding a mark while holding the
 * `flock` means one of two things. Either its creator was killed while
 * writing (it stays: it is cleared at once when its process was on this
 * host, after a wait otherwise), or another host holds the `flock` at the
 * same moment (the mark goes away or changes within milliseconds): then
 * `flock` does not reach other hosts, which is said, and the mark alone
 * keeps writers apart.
 *
 * @module
 */

import { delay } from "../../core/async.ts";

/** How {@linkcode withLock} waits. */
export interface LockOptions {
  /** Gives up (resolving undefined) when aborted. @default {never} */
  signal?: AbortSignal;
  /** Throws after waiting this long, in ms. @default {120000} */
  timeoutMs?: number;
  /** Names the lock in the timeout message. @default {"the sweep"} */
  what?: string;
  /** The lock mark's path, on shared filesystems. @default {none} */
  mark?: string;
  /**
   * How long a mark of another host may stay before it is taken for one
   * left by a killed writer, in ms. Critical sections last microseconds to
   * milliseconds; the wait only happens after such a kill.
   * @default {10000}
   */
  staleMs?: number;
  /** Told when a mark was seen held by a live holder despite the `flock`. */
  onSharedHolder?: () => void;
  /** Told when a mark left by a killed writer was cleared. */
  onStale?: () => void;
  /** Told how long the lock took to take, in ms (for benchmarks). */
  onWaited?: (ms: number) => void;
  /**
   * Wait in the lock's own queue (the kernel's, or the file server's) once
   * a few quick tries failed, rather than retrying on timers. A waiter there
   * takes no CPU and is woken at the release; retrying lets the latest
   * releaser win again and again (measured: 32 minions on one host drained
   * 10x slower than 2, and some starved). @default {false}
   */
  blocking?: boolean;
  /** Told once a blocking wait has lasted `timeoutMs`. */
  onLongWait?: () => void;
}

/**
 * A signal that aborts once every one of `signals` has; it never aborts
 * when one of them is missing. Call `dispose` when done with it: listeners
 * left on a long-lived signal pile up, and each new one costs more.
 */
export function allAborted(
  signals: readonly (AbortSignal | undefined)[],
): { signal: AbortSignal; dispose: () => void } {
  const live = new AbortController();
  if (!signals.every((signal) => signal !== undefined)) {
    return { signal: live.signal, dispose: () => {} };
  }
  const check = () => {
    if (signals.every((signal) => signal!.aborted)) live.abort();
  };
  for (const signal of signals) signal!.addEventListener("abort", check);
  check();
  return {
    signal: live.signal,
    dispose: () => {
      for (const signal of signals) signal!.removeEventListener("abort", check);
    },
  };
}

/** A blocking nap of `ms` (fractions allowed), for waits of microseconds. */
function nap(ms: number): void {
  Atomics.wait(NAP, 0, 0, ms);
}

/** This process's start time, to tell it from a later one with its pid. */
function startTime(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces): state is the
    // first, the start time the twentieth.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" || fields[0] === "X" ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

let host: string | undefined;
let serial = 0;
const self = `${Deno.pid}`;
const selfStart = startTime(Deno.pid) ?? "?";

/** What this process writes in a lock mark: host, pid, start time, serial. */
function markText(): string {
  host ??= (() => {
    try {
      return Deno.hostname();
    } catch {
      return "unknown-host";
    }
  })();
  return `${host} ${self} ${selfStart} ${++serial}`;
}

/** Whether the mark `text` was left by a process of this host now gone. */
function deadHere(text: string): boolean {
  const [markHost, pid, start] = text.split(" ");
  if (markHost !== host || !pid || !start || start === "?") return false;
  return startTime(Number(pid)) !== start;
}

/**
 * Takes the lock mark `mark` (a symbolic link whose target names its
 * holder) while holding the `flock`. Resolves true once it is taken: at
 * once, after its live holder let go (then `flock` did not exclude that
 * holder: `onSharedHolder`), or after clearing a mark that a killed writer
 * left: at once when it was a process of this host, after `staleMs`
 * otherwise. Resolves false when aborted.
 */
async function takeMark(mark: string, options: LockOptions): Promise<boolean> {
  const staleMs = options.staleMs ?? 10_000;
  let first = 0;
  let seen: string | undefined;
  let waited = false;
  for (let tries = 0;; tries++) {
    try {
      Deno.symlinkSync(markText(), mark);
      if (waited) options.onSharedHolder?.();
      return true;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    let text: string | undefined;
    try {
      text = Deno.readLinkSync(mark);
    } catch {
      continue; // gone meanwhile (or a cached entry): try again at once
    }
    // A holder was there while this process held the flock: unless it
    // turns out dead, the flock did not keep it out.
    waited = true;
    const now = performance.now();
    if (text !== seen) {
      seen = text;
      first = now;
    }
    if (deadHere(text) || now - first > staleMs) {
      // Renaming it away first makes sure that only one waiter clears it.
      const aside = `${mark}.stale-${crypto.randomUUID().slice(0, 8)}`;
      try {
        Deno.renameSync(mark, aside);
        Deno.removeSync(aside);
        options.onStale?.();
      } catch {
        // another waiter cleared it first
      }
      seen = undefined;
      waited = false;
      continue;
    }
    if (options.signal?.aborted) return false;
    if (tries < 20) nap(0.05 * 2 ** Math.min(tries, 6));
    else {
      await delay(2 + Math.random() * 8, { signal: options.signal })
        .catch(() => {});
    }
  }
}

/**
 * Runs `critical` while holding an exclusive lock on `file` (and, with
 * `options.dir`, the lock directory), and returns its result; `undefined`
 * when `signal` aborted before the lock was taken. `critical` must be
 * synchronous: the lock is held only while it runs.
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
    if (tries === 3 && options.blocking) {
      if (!(await lockOrAbort(file, options, timeoutMs))) return undefined;
      return runHeld(file, critical, started, options);
    }
    if (file.tryLockSync(true)) {
      return await runHeld(file, critical, started, options);
    }
    const waited = performance.now() - started;
    if (waited < SPIN_MS) {
      // The holder is usually done within tens of microseconds: a short
      // blocking nap lets it run, where a timer would cost a millisecond.
      nap(Math.min(0.01 * 2 ** tries, 0.5));
      continue;
    }
    if (waited > timeoutMs) {
      throw new Error(
        `could not lock ${options.what ?? "the sweep"} for ${
          timeoutMs / 1000
        }s: another process holds it (on NFS, a lock held by a lost node is freed when its NFS lease ends)`,
      );
    }
    // A long hold (a slow filesystem): back off with jitter so that waiters
    // do not retry in step, without blocking this process.
    const ceiling = Math.min(2 ** naps++, 25);
    await delay(ceiling / 2 + Math.random() * ceiling / 2, {
      signal: options.signal,
    }).catch(() => {});
  }
}

/** Runs `critical` with the flock held (taking the mark too), then lets go. */
async function runHeld<T>(
  file: Deno.FsFile,
  critical: () => T,
  started: number,
  options: LockOptions,
): Promise<T | undefined> {
  try {
    if (options.mark && !(await takeMark(options.mark, options))) {
      return undefined;
    }
    options.onWaited?.(performance.now() - started);
    try {
      return critical();
    } finally {
      if (options.mark) {
        try {
          Deno.removeSync(options.mark);
        } catch {
          // cleared by a waiter that took us for dead: nothing to undo
        }
      }
    }
  } finally {
    file.unlockSync();
  }
}

/**
 * Waits for the flock in the kernel. Resolves true once held; when `signal`
 * aborts meanwhile, the lock is let go as soon as it comes and false is
 * resolved.
 */
async function lockOrAbort(
  file: Deno.FsFile,
  options: LockOptions,
  timeoutMs: number,
): Promise<boolean> {
  const slow = setTimeout(() => options.onLongWait?.(), timeoutMs);
  try {
    await file.lock(true);
  } finally {
    clearTimeout(slow);
  }
  if (options.signal?.aborted) {
    file.unlockSync();
    return false;
  }
  return true;
}

/** How long a waiter naps synchronously before sleeping on timers, in ms. */
const SPIN_MS = 2;
const NAP = new Int32Array(new SharedArrayBuffer(4));
