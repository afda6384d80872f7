/**
 * Several bindfs (FUSE) mounts of one directory whose locks stay within
 * each mount: without `--enable-lock-forwarding`, bindfs keeps a `flock`
 * to itself, so two mounts both get an exclusive lock on one file. That is
 * what NFS `nolock`/`local_lock=flock`, Lustre `localflock` and BeeGFS
 * without global file locks give nodes of a cluster. Reads and writes go
 * straight to the directory (no cached attributes or pages), so locks are
 * the only thing these mounts get wrong.
 *
 * @module
 */

import { type ServerProcess, spawnServer, tail, waitUntil } from "./harness.ts";
import { isMounted, ownedDir, unmount } from "./fuse_mounts.ts";

/** FUSE options: every read and stat asks the directory itself. */
export const BINDFS_OPTIONS = "attr_timeout=0,entry_timeout=0,direct_io";

/** Mounts of one directory, each with locks of its own. */
export interface BindfsMounts {
  /** The mount points. */
  mounts: string[];
  /** The directory they all show. */
  source: string;
  /** Unmounts them (lazily when busy) and removes the directories. */
  stop(): Promise<void>;
}

/**
 * Mounts one fresh directory `mounts` times with bindfs, each bindfs in the
 * foreground under this test run.
 *
 * @throws {Error} when a mount does not come up within 15 s (with its log)
 */
export async function startBindfs(
  options: { mounts?: number } = {},
): Promise<BindfsMounts> {
  const dir = await ownedDir("bindfs");
  const source = `${dir}/src`;
  await Deno.mkdir(source, { mode: 0o777 });
  const mounts = Array.from(
    { length: options.mounts ?? 2 },
    (_, i) => `${dir}/m${i}`,
  );
  const servers: ServerProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    for (const mount of mounts) {
      await unmount(mount).catch((e) => problems.push((e as Error).message));
    }
    for (const server of servers) await server.stop(2_000);
    if (!mounts.some(isMounted)) {
      await Deno.remove(dir, { recursive: true }).catch((e) =>
        problems.push((e as Error).message)
      );
    }
    if (problems.length > 0) {
      throw new Error(`tearing down bindfs failed: ${problems.join("; ")}`);
    }
  };
  try {
    for (const mount of mounts) {
      await Deno.mkdir(mount);
      const server = await spawnServer("bindfs", "bindfs", [
        "-f",
        "-o",
        BINDFS_OPTIONS,
        source,
        mount,
      ]);
      servers.push(server);
      try {
        await waitUntil(`bindfs on ${mount}`, () => isMounted(mount), 15_000);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n${await tail(server.log)}`,
        );
      }
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { mounts, source, stop };
}
