/**
 * Which filesystem a directory is on, read from Linux's mount table
 * (`/proc/self/mountinfo`), and what its mount options mean for a sweep:
 * whether minions on other nodes can share it at all, and options known to
 * keep locks on one node (NFS `nolock`, Lustre `localflock`, ...).
 *
 * Only the mount table is read: a filesystem's own settings (GlusterFS
 * volume options, BeeGFS's client configuration) are not visible here, and
 * `minionize sweep doctor` on two nodes is the test that sees them.
 *
 * @example The filesystem of the current directory
 * ```ts
 * import { mountKind, mountOf, mountProblems } from "./mounts.ts";
 *
 * const mount = mountOf(".");
 * if (mount) {
 *   console.log(mount.fsType, mount.mountPoint, mountKind(mount.fsType));
 *   for (const p of mountProblems(mount)) console.log(p.problem, p.fix);
 * }
 * ```
 *
 * @module
 */

/** `path` made absolute from the current directory. */
function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/** The directory above `path` (`/` stays `/`). */
function parent(path: string): string {
  const at = path.replace(/\/+$/, "").lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

/** A mounted filesystem, as one line of `/proc/self/mountinfo` says. */
export interface Mount {
  /** The kernel's name of the type: `ext4`, `nfs4`, `lustre`, `fuse.glusterfs`, ... */
  fsType: string;
  /** What is mounted: a device, `server:/export`, a FUSE source. */
  source: string;
  /** Where it is mounted. */
  mountPoint: string;
  /** Its options: the mount's own, then the filesystem's, each once. */
  options: string[];
}

/** Undoes the octal escapes (`\040` for a space) of mountinfo fields. */
function unescape(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * The mounts in the text of a `/proc/PID/mountinfo` file, in its order
 * (a later mount on the same point hides an earlier one). Lines that do
 * not parse are skipped.
 */
export function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
    const fields = line.trim().split(" ");
    const dash = fields.indexOf("-", 6);
    if (fields.length < 7 || dash < 0 || fields.length < dash + 3) continue;
    const options = [
      ...fields[5]!.split(","),
      ...(fields[dash + 3] ?? "").split(","),
    ].filter((option) => option !== "").map(unescape);
    mounts.push({
      fsType: unescape(fields[dash + 1]!),
      source: unescape(fields[dash + 2]!),
      mountPoint: unescape(fields[4]!),
      options: [...new Set(options)],
    });
  }
  return mounts;
}

/**
 * The mount that holds the absolute, symlink-free `path`: the one with the
 * longest mount point above it, the latest of those on one point.
 */
export function findMount(
  mounts: readonly Mount[],
  path: string,
): Mount | undefined {
  let found: Mount | undefined;
  for (const mount of mounts) {
    const point = mount.mountPoint;
    const holds = path === point ||
      path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (holds && point.length >= (found?.mountPoint.length ?? 0)) {
      found = mount;
    }
  }
  return found;
}

/**
 * The mount that holds `path` (relative paths from the current directory;
 * symlinks followed; a path that does not exist yet by its nearest existing
 * parent). Needs `--allow-read`.
 *
 * @returns the mount, or `undefined` where there is no readable
 * `/proc/self/mountinfo` (not Linux)
 */
export function mountOf(path: string): Mount | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return undefined;
  }
  let at = absolute(path);
  while (true) {
    try {
      at = Deno.realPathSync(at);
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || at === "/") throw error;
      at = parent(at);
    }
  }
  return findMount(parseMountInfo(text), at);
}

/**
 * Whether a filesystem type can be seen by several nodes (`shared`), only
 * by this one (`local`), or cannot be told from its type (`unknown`, e.g. a
 * FUSE filesystem without a subtype).
 */
export type MountKind = "local" | "shared" | "unknown";

const LOCAL_TYPES = new Set([
  "ext2",
  "ext3",
  "ext4",
  "xfs",
  "btrfs",
  "bcachefs",
  "zfs",
  "f2fs",
  "jfs",
  "reiserfs",
  "nilfs2",
  "tmpfs",
  "ramfs",
  "devtmpfs",
  "overlay",
  "squashfs",
  "erofs",
  "iso9660",
  "udf",
  "vfat",
  "exfat",
  "ntfs",
  "ntfs3",
  "hfsplus",
]);

const SHARED_TYPES = new Set([
  "nfs",
  "nfs4",
  "lustre",
  "gpfs",
  "beegfs",
  "fhgfs",
  "ceph",
  "cifs",
  "smb3",
  "smbfs",
  "9p",
  "afs",
  "glusterfs",
  "ocfs2",
  "gfs2",
  "orangefs",
  "pvfs2",
  "panfs",
  "wekafs",
  "virtiofs",
]);

/** Whether `fsType` is shared by several nodes, local, or unknown. */
export function mountKind(fsType: string): MountKind {
  if (LOCAL_TYPES.has(fsType)) return "local";
  if (SHARED_TYPES.has(fsType) || fsType.startsWith("fuse.")) return "shared";
  return "unknown";
}

/** A mount option known to break a sweep shared by several nodes. */
export interface MountProblem {
  /** The option as the mount table shows it, e.g. `local_lock=flock`. */
  option: string;
  /** What goes wrong with it. */
  problem: string;
  /** What to mount with instead. */
  fix: string;
}

const LOCAL_LOCKS =
  "locks hold only on this node: minions on other nodes are not kept out and overwrite each other";

/**
 * The options of `mount` known to break a sweep that minions on several
 * nodes share: locks that stay on one node (NFS `nolock`,
 * `local_lock=flock|all`, Lustre `localflock`, CIFS `nobrl`), locks that
 * fail (Lustre `noflock`), stale reads (NFS `nocto`).
 */
export function mountProblems(mount: Mount): MountProblem[] {
  const problems: MountProblem[] = [];
  const type = mount.fsType;
  for (const option of mount.options) {
    if ((type === "nfs" || type === "nfs4") && option === "nolock") {
      problems.push({
        option,
        problem: LOCAL_LOCKS,
        fix:
          "mount without nolock (NFSv3 also needs rpc.statd running on every node)",
      });
    } else if (
      (type === "nfs" || type === "nfs4") &&
      (option === "local_lock=flock" || option === "local_lock=all")
    ) {
      problems.push({
        option,
        problem: LOCAL_LOCKS,
        fix: "mount with local_lock=none (the default)",
      });
    } else if ((type === "nfs" || type === "nfs4") && option === "nocto") {
      problems.push({
        option,
        problem:
          "files are not checked with the server when opened: a node may read stale bytes that another wrote",
        fix: "mount without nocto",
      });
    } else if (type === "lustre" && option === "localflock") {
      problems.push({
        option,
        problem: LOCAL_LOCKS,
        fix: "mount with -o flock instead of localflock",
      });
    } else if (type === "lustre" && option === "noflock") {
      problems.push({
        option,
        problem:
          "flock fails on this filesystem: minions cannot lock the sweep",
        fix: "mount with -o flock",
      });
    } else if (
      (type === "cifs" || type === "smb3") && option === "nobrl"
    ) {
      problems.push({
        option,
        problem: LOCAL_LOCKS,
        fix: "mount without nobrl",
      });
    }
  }
  return problems;
}
