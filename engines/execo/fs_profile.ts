/**
 * How a sweep's filesystem must be used, from what the mount table says.
 *
 * A local filesystem (ext4, xfs, tmpfs, ...) is seen by one kernel: its
 * locks exclude and its page cache is the only copy, so the journal is read
 * through the cache and synced at most once a second. Anything else may be
 * seen by several hosts, each with its own cache and, on some mounts, its
 * own locks (NFS `nolock`, Lustre `localflock`, BeeGFS without global locks,
 * FUSE filesystems): there a writer also takes the lock directory, reads the
 * journal past every client cache and makes its writes reach the server
 * before it lets go.
 *
 * @module
 */

import type { Env } from "../../core/contracts.ts";
import { ConfigError } from "../../core/errors.ts";
import { mountKind, mountOf, mountProblems } from "./mounts.ts";

/** How the store uses a filesystem. */
export interface FsProfile {
  /** The filesystem type, as the mount table names it. */
  type: string;
  /** Several hosts may use it: take the lock directory too, read fresh. */
  shared: boolean;
  /** Sync each write before letting go of the lock. */
  syncEachWrite: boolean;
  /**
   * Its `flock` is known to exclude across hosts (GlusterFS, NFS with its
   * locks, Lustre with `flock`, GPFS, CephFS): no lock mark is needed.
   */
  trustedLocks: boolean;
  /** Wait for the lock on the server's queue rather than by retrying. */
  blockingLocks: boolean;
  /**
   * Why locks may hold only on one host, when the mount options say so
   * (NFS `nolock`, `local_lock`, Lustre `localflock`).
   */
  localLocks?: string;
}

/**
 * Filesystems whose clients keep their caches coherent through the
 * server's lock manager, so a write reaches others without a sync.
 */
const COHERENT = new Set(["lustre", "gpfs", "ceph"]);

/** Shared filesystems whose `flock` excludes across hosts. */
const GLOBAL_LOCKS = new Set(["fuse.glusterfs", "lustre", "gpfs", "ceph"]);

/** The variable that overrides the detection. */
export const SHARED_VARIABLE = "EXECO_SHARED";

/**
 * Why the mount's locks hold on one host only, when its options say so
 * (NFS `nolock` or `local_lock`, Lustre `localflock`, CIFS `nobrl`).
 */
export function localLocks(
  type: string,
  options: string[],
): string | undefined {
  const local = mountProblems({
    fsType: type,
    source: "",
    mountPoint: "",
    options,
  }).find((problem) => problem.problem.startsWith("locks hold only"));
  const name = type.startsWith("nfs")
    ? "NFS"
    : type === "lustre"
    ? "Lustre"
    : type;
  return local ? `${name} mounted with '${local.option}'` : undefined;
}

/** The profile of a filesystem of `type` mounted with `options`. */
export function profileOf(type: string, options: string[]): FsProfile {
  const shared = mountKind(type) !== "local";
  const local = localLocks(type, options);
  const nfs = type.startsWith("nfs");
  const lockFlushes = nfs && !local;
  return {
    type,
    shared,
    syncEachWrite: shared && !lockFlushes && !COHERENT.has(type),
    trustedLocks: !shared || (!local && (nfs || GLOBAL_LOCKS.has(type))),
    // A waiter blocked in an NFS lock call has been seen to wake tens of
    // seconds after the holder died: on NFS, waiters retry instead.
    blockingLocks: !nfs,
    ...(local ? { localLocks: local } : {}),
  };
}

/**
 * The profile of the filesystem holding `dir`: from the mount table, or
 * forced by `EXECO_SHARED` (`yes` when a local disk is also exported to
 * other hosts, `no` to trust a filesystem as one host's).
 *
 * @throws {ConfigError} when `EXECO_SHARED` is not auto, yes or no
 */
export function fsProfile(dir: string, env: Env = {}): FsProfile {
  const forced = (env[SHARED_VARIABLE] ?? "auto").trim().toLowerCase();
  if (!["auto", "yes", "no", ""].includes(forced)) {
    throw new ConfigError(
      SHARED_VARIABLE,
      `${SHARED_VARIABLE} is '${
        env[SHARED_VARIABLE]
      }': expected auto, yes or no, e.g. ${SHARED_VARIABLE}=yes for a local disk that other hosts mount too`,
    );
  }
  let detected: FsProfile = {
    type: "unknown",
    shared: true,
    syncEachWrite: true,
    trustedLocks: false,
    blockingLocks: false,
  };
  try {
    const mount = mountOf(dir);
    if (mount) detected = profileOf(mount.fsType, mount.options);
  } catch {
    // no mount table (not Linux): take the careful way
  }
  if (forced === "yes") {
    return {
      ...detected,
      shared: true,
      syncEachWrite: true,
      trustedLocks: false,
    };
  }
  if (forced === "no") {
    return {
      ...detected,
      shared: false,
      syncEachWrite: false,
      trustedLocks: true,
      blockingLocks: true,
    };
  }
  return detected;
}
