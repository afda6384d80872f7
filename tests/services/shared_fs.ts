/**
 * One directory seen through several filesystem clients on this machine,
 * the way nodes of a cluster see their shared filesystem, in three
 * profiles:
 *
 * - `coherent`: a GlusterFS volume with its client caches off and mounts
 *   that cache no attributes: every client reads what another wrote, and
 *   `flock` excludes across clients.
 * - `default`: a GlusterFS volume with GlusterFS's own defaults: `flock`
 *   excludes, but a client may read stale bytes and sizes of what another
 *   wrote (write-behind, io-cache, quick-read, md-cache, ...).
 * - `lock-local`: bindfs mounts of one directory: reads are current, but a
 *   `flock` holds only within its own mount (NFS `nolock`, Lustre
 *   `localflock`, BeeGFS without global locks).
 *
 * Needs root and /dev/fuse. Install with
 * `bash tests/services/install.sh glusterfs`.
 *
 * @example Two clients of one volume
 * ```ts ignore
 * const fs = await startSharedFs("coherent");
 * try {
 *   await Deno.writeTextFile(`${fs.mounts[0]}/x`, "hello");
 *   await Deno.readTextFile(`${fs.mounts[1]}/x`); // "hello"
 * } finally {
 *   await fs.stop();
 * }
 * ```
 *
 * @module
 */

import { available } from "./harness.ts";
import { startBindfs } from "./bindfs.ts";
import { type GlusterProfile, startGlusterVolume } from "./glusterfs.ts";
import { reapDeadOwners } from "./fuse_mounts.ts";

/** The installer's command, for skip messages. */
export const SHARED_FS_INSTALL = "bash tests/services/install.sh glusterfs";

/** How the clients of the shared directory behave. */
export type SharedFsProfile = GlusterProfile | "lock-local";

/** Every profile, for tests that run on each. */
export const SHARED_FS_PROFILES: readonly SharedFsProfile[] = [
  "coherent",
  "default",
  "lock-local",
];

/** How {@linkcode startSharedFs} sets up. */
export interface SharedFsOptions {
  /** How many client mounts. @default {2} */
  mounts?: number;
}

/** A running shared directory. */
export interface SharedFs {
  /** Mount points of one directory, one per client. */
  mounts: string[];
  /** The profile it was started in. */
  profile: SharedFsProfile;
  /** The GlusterFS volume's name (undefined for bindfs). */
  volume: string | undefined;
  /** Unmounts every client and removes the volume and its directories. */
  stop(): Promise<void>;
}

/**
 * Whether the tools `profile` needs are here, and this process may mount
 * (root, /dev/fuse). Under CI a missing one throws; elsewhere it prints why
 * the tests are skipped and returns false.
 */
export function sharedFsAvailable(profile: SharedFsProfile): boolean {
  const tools = profile === "lock-local"
    ? ["bindfs"]
    : ["glusterd", "gluster", "mount.glusterfs"];
  if (!tools.every((tool) => available(tool, SHARED_FS_INSTALL))) return false;
  const problem = Deno.uid() !== 0
    ? "mounting needs root"
    : !fuseDevice()
    ? "/dev/fuse is missing (load the fuse module, or give the container the device)"
    : undefined;
  if (problem === undefined) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(
      `the ${profile} shared filesystem cannot run: ${problem} (CI must test against it)`,
    );
  }
  // deno-lint-ignore no-console
  console.warn(`skipping tests on the ${profile} filesystem: ${problem}`);
  return false;
}

function fuseDevice(): boolean {
  try {
    return Deno.statSync("/dev/fuse").isCharDevice === true;
  } catch {
    return false;
  }
}

/**
 * Starts one directory shared by `mounts` clients in `profile`. Names are
 * fresh on every start, so starts in parallel and reruns do not meet; what a
 * killed test run left behind is cleared first. Call `stop()` in a
 * `finally`.
 *
 * @throws {Error} when the filesystem cannot be brought up (what was
 * started is torn down first)
 */
export async function startSharedFs(
  profile: SharedFsProfile,
  options: SharedFsOptions = {},
): Promise<SharedFs> {
  await reapDeadOwners();
  if (profile === "lock-local") {
    const bind = await startBindfs(options);
    return { mounts: bind.mounts, profile, volume: undefined, stop: bind.stop };
  }
  const gluster = await startGlusterVolume(profile, options);
  return {
    mounts: gluster.mounts,
    profile,
    volume: gluster.volume,
    stop: gluster.stop,
  };
}
