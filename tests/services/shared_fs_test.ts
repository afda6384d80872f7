/**
 * The shared-filesystem services are what they claim: on `coherent` one
 * client reads what another wrote at once and `flock` excludes across
 * clients; on `default` locks exclude but reads may be stale; on
 * `lock-local` reads are current but locks do not exclude. And everything
 * goes away on stop.
 */

import { assert, assertEquals } from "../_assert.ts";
import { isMounted, runCommand } from "./fuse_mounts.ts";
import {
  type SharedFs,
  sharedFsAvailable,
  type SharedFsProfile,
  startSharedFs,
} from "./shared_fs.ts";

const encoder = new TextEncoder();

/** Runs `use` on a fresh shared directory and checks it is gone after. */
async function withSharedFs(
  profile: SharedFsProfile,
  use: (fs: SharedFs) => Promise<void>,
): Promise<void> {
  const fs = await startSharedFs(profile);
  try {
    await use(fs);
  } finally {
    await fs.stop();
  }
  for (const mount of fs.mounts) {
    assert(!isMounted(mount), `${mount} is still mounted`);
  }
  if (fs.volume !== undefined) {
    const list = await runCommand("gluster", [
      "--mode=script",
      "volume",
      "list",
    ]);
    assert(!list.stdout.split("\n").includes(fs.volume), "the volume remains");
  }
}

/** Whether a second lock on `mounts[1]` gets in while `mounts[0]` holds one. */
function secondLockGetsIn(fs: SharedFs): boolean {
  const name = `lock-${crypto.randomUUID()}`;
  const first = Deno.openSync(`${fs.mounts[0]}/${name}`, {
    read: true,
    write: true,
    create: true,
  });
  const second = Deno.openSync(`${fs.mounts[1]}/${name}`, {
    read: true,
    write: true,
  });
  try {
    assert(first.tryLockSync(true), "the first lock was refused");
    return second.tryLockSync(true);
  } finally {
    first.close();
    second.close();
  }
}

/**
 * Appends 20 records on mount 0 through a descriptor kept open, and reads
 * each back at once on mount 1, through a descriptor kept open and through
 * a fresh open: how many reads came back short.
 */
function staleReads(fs: SharedFs): { kept: number; fresh: number } {
  const name = `data-${crypto.randomUUID()}`;
  const writer = Deno.openSync(`${fs.mounts[0]}/${name}`, {
    read: true,
    write: true,
    create: true,
  });
  const reader = Deno.openSync(`${fs.mounts[1]}/${name}`, { read: true });
  const buffer = new Uint8Array(1 << 16);
  let kept = 0;
  let fresh = 0;
  try {
    for (let i = 0, length = 0; i < 20; i++) {
      const record = encoder.encode(`record ${i}`.padEnd(99, ".") + "\n");
      writer.writeSync(record);
      length += record.length;
      reader.seekSync(0, Deno.SeekMode.Start);
      let read = 0;
      for (let n; (n = reader.readSync(buffer.subarray(read))) !== null;) {
        read += n;
      }
      if (read !== length || reader.statSync().size !== length) kept++;
      if (Deno.readFileSync(`${fs.mounts[1]}/${name}`).length !== length) {
        fresh++;
      }
    }
  } finally {
    writer.close();
    reader.close();
  }
  return { kept, fresh };
}

Deno.test({
  name:
    "coherent: what one mount writes the other reads at once, and flock excludes across mounts",
  ignore: !sharedFsAvailable("coherent"),
  fn: () =>
    withSharedFs("coherent", async (fs) => {
      assertEquals(fs.mounts.length, 2);
      await Deno.writeTextFile(`${fs.mounts[0]}/hello`, "hello");
      assertEquals(await Deno.readTextFile(`${fs.mounts[1]}/hello`), "hello");
      assertEquals(staleReads(fs), { kept: 0, fresh: 0 });
      assertEquals(secondLockGetsIn(fs), false);
    }),
});

Deno.test({
  name:
    "default: flock excludes across mounts, but a descriptor kept open reads stale bytes",
  ignore: !sharedFsAvailable("default"),
  fn: () =>
    withSharedFs("default", async (fs) => {
      assertEquals(secondLockGetsIn(fs), false);
      const { kept } = staleReads(fs);
      assert(kept > 0, "every read was current: the caches are not on");
      await Promise.resolve();
    }),
});

Deno.test({
  name:
    "lock-local: reads are current, but flock on one mount does not keep out the other",
  ignore: !sharedFsAvailable("lock-local"),
  fn: () =>
    withSharedFs("lock-local", async (fs) => {
      await Deno.writeTextFile(`${fs.mounts[0]}/hello`, "hello");
      assertEquals(await Deno.readTextFile(`${fs.mounts[1]}/hello`), "hello");
      assertEquals(staleReads(fs), { kept: 0, fresh: 0 });
      assertEquals(secondLockGetsIn(fs), true);
    }),
});

Deno.test({
  name: "shared filesystems of one profile started together do not meet",
  ignore: !sharedFsAvailable("coherent"),
  fn: async () => {
    const [a, b] = await Promise.all([
      startSharedFs("coherent", { mounts: 1 }),
      startSharedFs("coherent", { mounts: 1 }),
    ]);
    try {
      assert(a.volume !== b.volume);
      await Deno.writeTextFile(`${a.mounts[0]}/only-a`, "a");
      const names = [...Deno.readDirSync(b.mounts[0]!)].map((e) => e.name);
      assert(!names.includes("only-a"), `b shows a's file: ${names}`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  },
});

Deno.test({
  name: "what a killed test run left mounted is torn down by the next start",
  ignore: !sharedFsAvailable("coherent") || !sharedFsAvailable("lock-local"),
  fn: async () => {
    // A test process that starts both kinds, then dies without stopping.
    const module = new URL("./shared_fs.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { startSharedFs } from "${module}";
        const a = await startSharedFs("coherent", { mounts: 1 });
        const b = await startSharedFs("lock-local", { mounts: 1 });
        console.log(JSON.stringify({ volume: a.volume, mounts: [...a.mounts, ...b.mounts] }));
        await new Promise(() => {});`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let line = "";
    while (!line.includes("\n")) line += (await reader.read()).value ?? "";
    const left = JSON.parse(line) as { volume: string; mounts: string[] };
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    assert(left.mounts.every(isMounted));

    const fs = await startSharedFs("coherent", { mounts: 1 });
    await fs.stop();
    for (const mount of left.mounts) {
      assert(!isMounted(mount), `${mount} is still mounted`);
      const dir = mount.slice(0, mount.lastIndexOf("/"));
      assert(
        await Deno.stat(dir).then(() => false, () => true),
        `${dir} remains`,
      );
    }
    const list = await runCommand("gluster", [
      "--mode=script",
      "volume",
      "list",
    ]);
    assert(
      !list.stdout.split("\n").includes(left.volume),
      "the volume remains",
    );
  },
});
