import { assertEquals } from "../../_assert.ts";
import {
  findMount,
  type Mount,
  mountKind,
  mountOf,
  mountProblems,
  parseMountInfo,
} from "../../../engines/execo/mounts.ts";

const FIXTURE = new URL(
  "../../testdata/mountinfo/cluster.txt",
  import.meta.url,
);
const mounts = parseMountInfo(Deno.readTextFileSync(FIXTURE));

function at(path: string): Mount {
  const mount = findMount(mounts, path);
  if (!mount) throw new Error(`no mount holds ${path}`);
  return mount;
}

Deno.test("parseMountInfo reads type, source, mount point and both option lists", () => {
  assertEquals(at("/home/bob/sweeps"), {
    fsType: "nfs4",
    source: "srv:/export/home",
    mountPoint: "/home",
    options: [
      "rw",
      "relatime",
      "vers=4.2",
      "rsize=1048576",
      "wsize=1048576",
      "namlen=255",
      "hard",
      "proto=tcp",
      "timeo=600",
      "retrans=2",
      "sec=sys",
      "clientaddr=10.0.0.5",
      "local_lock=none",
      "addr=10.0.0.1",
    ],
  });
});

Deno.test("parseMountInfo undoes octal escapes and skips lines that do not parse", () => {
  assertEquals(at("/mnt/my data/x").mountPoint, "/mnt/my data");
  assertEquals(parseMountInfo("garbage\n\n1 2 3\n"), []);
});

Deno.test("findMount takes the deepest mount point, and the latest of a stack", () => {
  assertEquals(at("/").fsType, "ext4");
  assertEquals(at("/homework").mountPoint, "/");
  assertEquals(at("/home").mountPoint, "/home");
  assertEquals(at("/home/alice/work/sweeps").fsType, "fuse.sshfs");
  assertEquals(at("/stack/sweeps").fsType, "tmpfs");
  assertEquals(findMount([], "/x"), undefined);
});

Deno.test("mountKind tells local, shared and unknown filesystems apart", () => {
  const kinds = Object.fromEntries(
    ["ext4", "xfs", "tmpfs", "overlay", "zfs", "btrfs"].map((t) => [t, "local"])
      .concat(
        ["nfs", "nfs4", "lustre", "gpfs", "beegfs", "ceph", "cifs"].map((
          t,
        ) => [t, "shared"]),
      )
      .concat([["fuse.glusterfs", "shared"], ["fuse.sshfs", "shared"]])
      .concat([["fuse", "unknown"], ["proc", "unknown"]]),
  );
  for (const [type, kind] of Object.entries(kinds)) {
    assertEquals(mountKind(type), kind, type);
  }
});

Deno.test("mountProblems flags options that keep locks local or read stale", () => {
  const options = (path: string) =>
    mountProblems(at(path)).map((p) => p.option);
  assertEquals(options("/home/x"), []);
  assertEquals(options("/scratch/x"), ["nolock", "local_lock=all"]);
  assertEquals(options("/projects/x"), ["nocto", "local_lock=flock"]);
  assertEquals(options("/lustre/x"), ["localflock"]);
  assertEquals(options("/lustre2/x"), []);
  assertEquals(options("/mnt/ga/x"), []);
  assertEquals(options("/"), []);
  const [nolock] = mountProblems(at("/scratch"));
  assertEquals(nolock!.fix.startsWith("mount without nolock"), true);
  assertEquals(
    mountProblems(at("/lustre"))[0]!.fix,
    "mount with -o flock instead of localflock",
  );
  const noflock = { ...at("/lustre2"), options: ["rw", "noflock"] };
  assertEquals(mountProblems(noflock)[0]!.fix, "mount with -o flock");
});

Deno.test("mountOf finds this machine's mount of a path, existing or not yet", async () => {
  const dir = await Deno.makeTempDir();
  const mount = mountOf(`${dir}/not/yet/there`);
  assertEquals(mount, mountOf(dir));
  assertEquals(typeof mount?.fsType, "string");
  assertEquals(mountOf("/")?.mountPoint, "/");
  await Deno.remove(dir, { recursive: true });
});
