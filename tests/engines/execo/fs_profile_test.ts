import { assertEquals, assertThrows } from "../../_assert.ts";
import { fsProfile, profileOf } from "../../../engines/execo/fs_profile.ts";
import { ConfigError } from "../../../core/errors.ts";

Deno.test("local filesystems keep the fast path; shared ones take the careful one", () => {
  assertEquals(profileOf("ext4", ["rw"]), {
    type: "ext4",
    shared: false,
    syncEachWrite: false,
    trustedLocks: true,
    blockingLocks: true,
  });
  // NFS with its locks: unlocking flushes, no sync needed.
  assertEquals(
    profileOf("nfs4", ["rw", "local_lock=none"]).syncEachWrite,
    false,
  );
  assertEquals(profileOf("fuse.glusterfs", ["rw"]), {
    type: "fuse.glusterfs",
    shared: true,
    syncEachWrite: true,
    trustedLocks: true,
    blockingLocks: true,
  });
  // Other FUSE filesystems may keep locks to one mount: a mark is taken.
  assertEquals(profileOf("fuse", ["rw"]).trustedLocks, false);
  // NFS waiters retry: a blocked NFS lock call wakes late after a crash.
  assertEquals(profileOf("nfs4", ["rw"]).blockingLocks, false);
  assertEquals(profileOf("lustre", ["flock"]).syncEachWrite, false);
});

Deno.test("mount options that keep locks on one host are named", () => {
  assertEquals(
    profileOf("nfs", ["nolock"]).localLocks,
    "NFS mounted with 'nolock'",
  );
  assertEquals(
    profileOf("nfs4", ["local_lock=flock"]).localLocks,
    "NFS mounted with 'local_lock=flock'",
  );
  assertEquals(
    profileOf("lustre", ["localflock"]).localLocks,
    "Lustre mounted with 'localflock'",
  );
  // Without its locks NFS does not flush on unlock: each write is synced,
  // and a mark keeps writers apart.
  assertEquals(profileOf("nfs", ["nolock"]).syncEachWrite, true);
  assertEquals(profileOf("nfs", ["nolock"]).trustedLocks, false);
});

Deno.test("EXECO_SHARED forces the careful way, or the fast one, and rejects anything else", async () => {
  const dir = await Deno.makeTempDir();
  assertEquals(fsProfile(dir, { EXECO_SHARED: "yes" }).shared, true);
  assertEquals(fsProfile(dir, { EXECO_SHARED: "no" }).shared, false);
  assertThrows(
    () => fsProfile(dir, { EXECO_SHARED: "maybe" }),
    ConfigError,
    "EXECO_SHARED is 'maybe': expected auto, yes or no",
  );
});
