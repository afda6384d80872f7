/**
 * A GlusterFS volume on this machine with several FUSE client mounts: each
 * mount is a client with caches of its own, as each node of a cluster is.
 * The volume has one brick under /tmp, a name of its own per start, and is
 * reached through the host's own name, which must resolve to a loopback
 * address (GlusterFS refuses 127.0.0.1 as a brick host).
 *
 * glusterd is one per machine. When it is not running, the first start runs
 * one bound to that loopback address (its bricks inherit the binding), and
 * it is stopped when this process ends, unless volumes of others remain
 * (started once per test run: it takes seconds to start). A glusterd
 * someone else started is used as it is.
 *
 * @module
 */

import { CACHE, tail } from "./harness.ts";
import {
  alive,
  isMounted,
  OWNER_PREFIX,
  ownerPid,
  runCommand,
  runOk,
  unmount,
  WORK_ROOT,
} from "./fuse_mounts.ts";

/**
 * The volume options that make every client read what another wrote as
 * soon as it is written: the client-side caches off.
 */
export const COHERENT_VOLUME_OPTIONS: readonly string[] = [
  "performance.write-behind",
  "performance.quick-read",
  "performance.io-cache",
  "performance.read-ahead",
  "performance.stat-prefetch",
  "performance.open-behind",
  "performance.readdir-ahead",
];

/** Mount options of the coherent profile: no cached attributes or names. */
export const COHERENT_MOUNT_OPTIONS = "attribute-timeout=0,entry-timeout=0";

/** How a volume's clients cache. */
export type GlusterProfile = "coherent" | "default";

/** A started volume and its client mounts. */
export interface GlusterVolume {
  /** The volume's name. */
  volume: string;
  /** The client mount points, one directory seen through each. */
  mounts: string[];
  /** Unmounts, stops and deletes the volume, removes its directories. */
  stop(): Promise<void>;
}

/** Where glusterd has its bricks log (one file per brick path). */
const BRICK_LOGS = "/var/log/glusterfs/bricks";

/** The pid of the glusterd this process started, if it did. */
let ownGlusterd: number | undefined;

/** Stops the glusterd this process started, unless volumes remain on it. */
function stopOwnGlusterd(): void {
  if (ownGlusterd === undefined) return;
  const list = new Deno.Command("gluster", {
    args: ["--mode=script", "volume", "list"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  if (parseVolumeList(new TextDecoder().decode(list.stdout)).length > 0) return;
  try {
    Deno.kill(ownGlusterd, "SIGTERM");
  } catch {
    // gone already
  }
  ownGlusterd = undefined;
}

// Synchronous, as unload handlers must be.
globalThis.addEventListener("unload", stopOwnGlusterd);

/** `gluster` in script mode (no questions asked). */
function gluster(args: string[]) {
  return runCommand("gluster", ["--mode=script", ...args]);
}

/**
 * Runs a gluster command that changes the cluster, retrying while another
 * transaction holds glusterd's lock (another test run, another engineer).
 */
async function glusterChange(args: string[]): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (true) {
    const result = await gluster(args);
    if (result.code === 0) return result.stdout;
    const said = `${result.stderr}${result.stdout}`.trim();
    if (
      Date.now() > deadline ||
      !/another transaction|locking failed|lock .* held/i.test(said)
    ) {
      throw new Error(
        `'gluster ${args.join(" ")}' exited with ${result.code}: ${said}`,
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, 200 + 300 * Math.random())
    );
  }
}

/**
 * A name for the bricks that resolves to a loopback address, installed by
 * install/glusterfs.sh when the host's own name does not.
 */
export const LOOPBACK_ALIAS = "minionize-gluster";

/** The IPv4 address `name` resolves to, if any. */
async function resolve4(name: string): Promise<string | undefined> {
  // `ahostsv4` hides IPv4 addresses where loopback is the only IPv4
  // interface; `hosts` may answer with IPv6: try both.
  for (const database of ["ahostsv4", "hosts"]) {
    const result = await runCommand("getent", [database, name]);
    const address = result.stdout.split(/\s+/).find((field) =>
      /^[0-9]+(\.[0-9]+){3}$/.test(field)
    );
    if (address) return address;
  }
  return undefined;
}

/**
 * The name to give bricks and mounts, and the loopback address it resolves
 * to: the host's own name, else {@linkcode LOOPBACK_ALIAS}. (GlusterFS
 * refuses `localhost` and 127.0.0.1 themselves as a brick's host.)
 */
async function loopbackHost(): Promise<{ host: string; address: string }> {
  const tried: string[] = [];
  for (const host of [Deno.hostname(), LOOPBACK_ALIAS]) {
    const address = await resolve4(host);
    if (address?.startsWith("127.")) return { host, address };
    tried.push(`'${host}' resolves to '${address ?? "nothing"}'`);
  }
  throw new Error(
    `no host name resolves to a loopback address (${
      tried.join(", ")
    }): GlusterFS would be reachable beyond this machine; run 'bash tests/services/install.sh glusterfs' (it adds '127.0.1.1 ${LOOPBACK_ALIAS}' to /etc/hosts)`,
  );
}

/** glusterd's configuration: Debian's, bound to `address` only. */
function glusterdVolfile(address: string): string {
  return `volume management
    type mgmt/glusterd
    option working-directory /var/lib/glusterd
    option transport-type socket
    option transport.socket.bind-address ${address}
    option transport.socket.listen-port 24007
    option transport.socket.keepalive-time 10
    option transport.socket.keepalive-interval 2
    option transport.socket.read-fail-log off
    option ping-timeout 0
    option event-threads 1
    option max-port 60999
end-volume
`;
}

async function glusterdUp(): Promise<boolean> {
  return (await gluster(["volume", "list"])).code === 0;
}

/**
 * Makes sure glusterd runs, starting it when it does not. Holds a lock file
 * meanwhile, so that two test processes do not both start one.
 */
async function ensureGlusterd(address: string): Promise<void> {
  await Deno.mkdir(`${CACHE}/glusterfs`, { recursive: true });
  const lock = await Deno.open(`${CACHE}/glusterfs/glusterd.lock`, {
    write: true,
    create: true,
  });
  try {
    await lock.lock(true);
    if (await glusterdUp()) return;
    const volfile = `${CACHE}/glusterfs/glusterd.vol`;
    const pidFile = `${CACHE}/glusterfs/glusterd.pid`;
    const log = `${CACHE}/logs/glusterd-${Date.now()}.log`;
    await Deno.writeTextFile(volfile, glusterdVolfile(address));
    await Deno.mkdir(`${CACHE}/logs`, { recursive: true });
    // It daemonizes, as it does when started by hand: it outlives no test
    // (stopped on unload) but belongs to none, so no test sees it leak.
    await runOk("glusterd", [
      `--volfile=${volfile}`,
      `--log-file=${log}`,
      `--pid-file=${pidFile}`,
    ]);
    const deadline = Date.now() + 30_000;
    while (!(await glusterdUp())) {
      if (Date.now() > deadline) {
        throw new Error(
          `glusterd did not answer within 30s\n${await tail(log)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    ownGlusterd = Number((await Deno.readTextFile(pidFile)).trim());
  } finally {
    lock.close();
  }
}

function parseVolumeList(stdout: string): string[] {
  return stdout.split("\n").map((line) => line.trim()).filter((name) =>
    name !== "" && !name.startsWith("No volumes")
  );
}

async function volumeNames(): Promise<string[]> {
  const result = await gluster(["volume", "list"]);
  return result.code === 0 ? parseVolumeList(result.stdout) : [];
}

/** Stops and deletes the volumes that test processes now gone left behind. */
async function reapDeadVolumes(): Promise<void> {
  const dead = (name: string) => {
    const pid = ownerPid(name);
    return pid !== undefined && pid !== Deno.pid && !alive(pid);
  };
  for (const volume of await volumeNames()) {
    if (dead(volume)) await dropVolume(volume).catch(() => {});
  }
  // A brick that is shutting down may log again after its log was removed.
  try {
    for (const entry of Deno.readDirSync(BRICK_LOGS)) {
      if (entry.name.startsWith("tmp-minionize-fs-") && dead(entry.name)) {
        Deno.removeSync(`${BRICK_LOGS}/${entry.name}`);
      }
    }
  } catch {
    // no logs, or not ours to remove
  }
}

/** Stops and deletes `volume`, and glusterd's leftovers of it. */
async function dropVolume(volume: string): Promise<void> {
  const stopped = await gluster(["volume", "stop", volume, "force"]);
  if (stopped.code !== 0 && !/not in started state/i.test(stopped.stderr)) {
    await glusterChange(["volume", "stop", volume, "force"]);
  }
  await glusterChange(["volume", "delete", volume]);
  // glusterd keeps an empty run directory per volume it ever started.
  await Deno.remove(`/var/run/gluster/vols/${volume}`).catch(() => {});
}

/**
 * Creates and starts a volume in `profile` and mounts it `mounts` times.
 * Stop it in a `finally`: the volume, its mounts and directories go.
 *
 * @throws {Error} when glusterd, the volume or a mount cannot be brought up
 * (everything started so far is torn down first)
 */
export async function startGlusterVolume(
  profile: GlusterProfile,
  options: { mounts?: number } = {},
): Promise<GlusterVolume> {
  const { host, address } = await loopbackHost();
  await ensureGlusterd(address);
  await reapDeadVolumes();
  const volume = `${OWNER_PREFIX}${
    crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16)
  }`;
  const dir = `${WORK_ROOT}/${volume}`;
  await Deno.mkdir(`${dir}/brick`, { recursive: true, mode: 0o755 });
  const mounts = Array.from(
    { length: options.mounts ?? 2 },
    (_, i) => `${dir}/m${i}`,
  );
  let created = false;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const problems: string[] = [];
    for (const mount of mounts) {
      await unmount(mount).catch((e) => problems.push((e as Error).message));
    }
    if (created) {
      await dropVolume(volume).catch((e) =>
        problems.push((e as Error).message)
      );
      const brickLog = `${dir}/brick`.slice(1).replaceAll("/", "-");
      await Deno.remove(`${BRICK_LOGS}/${brickLog}.log`).catch(
        () => {},
      );
    }
    if (!mounts.some(isMounted)) {
      await Deno.remove(dir, { recursive: true }).catch((e) =>
        problems.push((e as Error).message)
      );
    }
    if (problems.length > 0) {
      throw new Error(
        `tearing down the volume ${volume} failed: ${problems.join("; ")}`,
      );
    }
  };
  try {
    await glusterChange([
      "volume",
      "create",
      volume,
      `${host}:${dir}/brick`,
      "force",
    ]);
    created = true;
    if (profile === "coherent") {
      await glusterChange([
        "volume",
        "set",
        volume,
        ...COHERENT_VOLUME_OPTIONS.flatMap((option) => [option, "off"]),
      ]);
    }
    await glusterChange(["volume", "start", volume]);
    for (const [i, mount] of mounts.entries()) {
      await Deno.mkdir(mount);
      const mountOptions = [
        `log-file=${CACHE}/logs/glusterfs-${volume}-m${i}.log`,
        ...(profile === "coherent" ? [COHERENT_MOUNT_OPTIONS] : []),
      ];
      await runOk("mount", [
        "-t",
        "glusterfs",
        "-o",
        mountOptions.join(","),
        `${host}:/${volume}`,
        mount,
      ]);
      if (!isMounted(mount)) {
        throw new Error(`mount -t glusterfs left ${mount} unmounted`);
      }
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { volume, mounts, stop };
}
