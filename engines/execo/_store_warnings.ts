/**
 * What a sweep store tells the user about its filesystem, once: a lock that
 * did not keep out a minion of another host, a lock mark left by a killed
 * writer, a lock held for minutes, and this host's clock far from the file
 * server's. Also how a store takes the journal's lock on its filesystem.
 *
 * @module
 */

import { LOCK_MARK, path } from "./files.ts";
import type { FsProfile } from "./fs_profile.ts";
import type { LockOptions } from "./lock.ts";

/** How far this host's clock may be from the file server's, in ms. */
const CLOCK_WARN_MS = 10_000;

/** What {@linkcode journalLockOptions} needs. */
export interface JournalLockSetting {
  /** The sweep's directory. */
  dir: string;
  /** Its journal, which is what is locked. */
  journalPath: string;
  /** How the filesystem is used. */
  profile: FsProfile;
  /** Told what the user should know. */
  warn: (message: string) => void;
  /** Told what the user should know, once per key. */
  once: (key: string, message: string) => void;
  /** Told how long the lock took to take, in ms. */
  onLockWait: ((ms: number) => void) | undefined;
}

/**
 * How a store locks the journal on its filesystem: waiting in the lock's
 * queue where that works, with the lock mark where `flock` may hold on one
 * host only, saying so when it did.
 */
export function journalLockOptions(
  setting: JournalLockSetting,
  signal: AbortSignal,
): LockOptions {
  const { dir, journalPath, profile, warn, once, onLockWait } = setting;
  return {
    what: journalPath,
    signal,
    blocking: profile.blockingLocks,
    onLongWait: () =>
      warn(
        `waiting for the lock on ${journalPath} for two minutes: another process holds it (a stopped minion, or a slow file server)`,
      ),
    ...(profile.trustedLocks ? {} : {
      mark: path(dir, LOCK_MARK),
      onSharedHolder: () =>
        once(
          "locks",
          `the lock on ${journalPath} did not keep out a minion of another host: this filesystem's locks hold on one host only (${
            profile.localLocks ??
              "as with NFS 'nolock' or 'local_lock', Lustre 'localflock', BeeGFS without tuneUseGlobalFileLocks"
          }); minionize goes on safely with its own lock mark, but mount with shared locks for speed ('minionize sweep doctor' checks it)`,
        ),
      onStale: () =>
        warn(
          `cleared the lock mark ${
            path(dir, LOCK_MARK)
          } that a minion killed while writing left behind`,
        ),
    }),
    ...(onLockWait ? { onWaited: onLockWait } : {}),
  };
}

/**
 * Warns when this host's clock is far from the file server's, as the
 * journal's modification time after a write shows it. Leases do not
 * depend on it, but reports and `sweep status` times do.
 */
export function checkClock(
  journalPath: string,
  warn: (message: string) => void,
): void {
  try {
    const written = Deno.statSync(journalPath).mtime?.getTime();
    if (written === undefined) return;
    const offset = Date.now() - written;
    if (Math.abs(offset) > CLOCK_WARN_MS) {
      warn(
        `this host's clock is ${Math.round(Math.abs(offset) / 1000)}s ${
          offset > 0 ? "ahead of" : "behind"
        } the file server's (from ${journalPath}'s modification time): leases do not depend on it, but times in reports do; set up NTP on this host`,
      );
    }
  } catch {
    // no modification time here: nothing to compare
  }
}
