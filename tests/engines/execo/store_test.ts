import { assert, assertEquals, assertMatch } from "../../_assert.ts";
import { rejects } from "node:assert/strict";
import { encodeRecord } from "../../../engines/execo/log.ts";
import { DONE, SHARD_SIZE, TODO } from "../../../engines/execo/param_state.ts";
import { LOG, SweepError, SweepStore } from "../../../engines/execo/store.ts";
import {
  addParams,
  createSweep,
  openSweep,
  viewSweep,
} from "../../../engines/execo/sweep.ts";

async function sweepOf(params: number[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "execo-store-" });
  (await createSweep(dir, params)).store.close();
  return dir;
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    out[entry.name] = await Deno.readTextFile(`${dir}/${entry.name}`);
  }
  return out;
}

/** Marks params done through a store, the way a minion's ack does. */
async function markDone(store: SweepStore, ids: number[]) {
  await store.transact((tx) => {
    for (const id of ids) tx.append("d", id, { o: "t", w: tx.now });
  }, { sync: true });
}

const statuses = (store: { state: SweepStore["state"] }) => {
  store.state.loadAll();
  return [...store.state.status];
};
const isCorrupt = (pattern: RegExp) => (error: unknown) =>
  error instanceof SweepError && error.problem === "corrupt" &&
  pattern.test(error.message);

Deno.test("sweep store keeps params a set: adding one again does nothing", async () => {
  const dir = await sweepOf([1, 2]);
  const store = await SweepStore.open(dir);
  const added = await addParams(store, [2, 3, { b: 1, a: [1] }, {
    a: [1],
    b: 1,
  }]);
  assertEquals(added, 2);
  assertEquals(store.state.texts, ["1", "2", "3", '{"a":[1],"b":1}']);
  store.close();
});

Deno.test("sweep store voids a record torn by a crash without cutting a byte", async () => {
  const dir = await sweepOf([1, 2, 3]);
  let store = await SweepStore.open(dir);
  await markDone(store, [0, 1]);
  store.close();
  const torn = encodeRecord("d", 2, '{"o":"t","w":1}').subarray(0, 20);
  const journal = await Deno.open(`${dir}/${LOG}`, { append: true });
  await journal.write(torn);
  journal.close();
  const before = await Deno.readFile(`${dir}/${LOG}`);
  let repaired = 0;
  store = await SweepStore.open(dir, { onRepair: (bytes) => repaired = bytes });
  assertEquals(repaired, 20);
  const after = await Deno.readFile(`${dir}/${LOG}`);
  assert(after.length > before.length, "the journal did not grow");
  assertEquals(after.subarray(0, before.length), before);
  assertEquals(statuses(store), [DONE, DONE, TODO]);
  await markDone(store, [2]);
  store.close();
  store = await SweepStore.open(dir);
  assertEquals(statuses(store), [DONE, DONE, DONE]);
  store.close();
});

Deno.test("sweep store refuses a journal damaged in the middle and changes no file", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0, 1, 2]);
  store.close();
  const path = `${dir}/${LOG}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 60] = bytes[bytes.length - 60]! ^ 0x20;
  await Deno.writeFile(path, bytes);
  const before = await files(dir);
  await rejects(SweepStore.open(dir), isCorrupt(/damaged at byte/));
  await rejects(viewSweep(dir), isCorrupt(/damaged at byte/));
  assertEquals(await files(dir), before);
});

Deno.test("sweep store refuses a damaged header, a zeroed start or an empty journal, and changes nothing", async () => {
  const damages: [string, (bytes: Uint8Array) => Uint8Array][] = [
    ["a flipped byte in the header", (b) => {
      b[12] = b[12]! ^ 1;
      return b;
    }],
    ["a zeroed first 4 KB", (b) => {
      b.fill(0, 0, Math.min(4096, b.length));
      return b;
    }],
    ["an empty journal", () => new Uint8Array(0)],
  ];
  for (const [what, damage] of damages) {
    const dir = await sweepOf(Array.from({ length: 50 }, (_, i) => i));
    const store = await SweepStore.open(dir);
    await markDone(store, [0, 1, 2]);
    store.close();
    const path = `${dir}/${LOG}`;
    await Deno.writeFile(path, damage(await Deno.readFile(path)));
    const before = await files(dir);
    const pattern = what === "an empty journal"
      ? /is empty but snapshots exist/
      : /damaged at byte 0/;
    await rejects(SweepStore.open(dir), isCorrupt(pattern), what);
    await rejects(viewSweep(dir), isCorrupt(pattern), what);
    assertEquals(await files(dir), before, what);
  }
});

Deno.test("sweep store refuses a journal cut shorter than its snapshot covers", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0]);
  await store.compact();
  store.close();
  const path = `${dir}/${LOG}`;
  const size = (await Deno.stat(path)).size;
  await Deno.truncate(path, size - 30);
  const before = await files(dir);
  await rejects(SweepStore.open(dir), isCorrupt(/the journal was cut/));
  assertEquals(await files(dir), before);
});

Deno.test("sweep store snapshots are followed by other openers and never shorten the journal", async () => {
  const dir = await sweepOf([1, 2, 3, 4]);
  const a = await SweepStore.open(dir);
  const b = await SweepStore.open(dir);
  await markDone(a, [0]);
  const size = (await Deno.stat(`${dir}/${LOG}`)).size;
  await a.compact();
  assert(`minionize.index.2` in await files(dir), "no snapshot written");
  assert((await Deno.stat(`${dir}/${LOG}`)).size >= size, "journal shortened");
  await markDone(a, [1]);
  await b.transact(() => {});
  assertEquals(statuses(b), [DONE, DONE, TODO, TODO]);
  await markDone(b, [2]);
  await a.transact(() => {});
  assertEquals(statuses(a), [DONE, DONE, DONE, TODO]);
  a.close();
  b.close();
  const joiner = await SweepStore.open(dir);
  assertEquals(statuses(joiner), [DONE, DONE, DONE, TODO]);
  joiner.close();
});

Deno.test("sweep store joins a big sweep by reading only the shards it needs", async () => {
  const count = SHARD_SIZE * 5;
  const dir = await sweepOf(Array.from({ length: count }, (_, i) => i));
  const store = await SweepStore.open(dir);
  await markDone(store, [1, SHARD_SIZE * 3 + 2]);
  await store.compact();
  // A change after the snapshot: its shard is read when the record is.
  await markDone(store, [SHARD_SIZE * 4 + 1]);
  store.close();
  const joiner = await SweepStore.open(dir);
  assertEquals(joiner.state.loaded, [false, false, false, false, true]);
  assertEquals(joiner.state.counts.done, 3);
  assertEquals(joiner.state.nextTodo(), 0);
  assertEquals(joiner.state.loaded, [true, false, false, false, true]);
  joiner.close();
});

Deno.test("sweep store snapshots rewrite only the shards that changed", async () => {
  const dir = await sweepOf(
    Array.from({ length: SHARD_SIZE * 3 }, (_, i) => i),
  );
  const store = await SweepStore.open(dir);
  await markDone(store, [SHARD_SIZE + 5]);
  await store.compact();
  const index = (await files(dir))["minionize.index.2"]!;
  assertMatch(index, /"f":"minionize\.shard\.1\.0"/);
  assertMatch(index, /"f":"minionize\.shard\.2\.1"/);
  assertMatch(index, /"f":"minionize\.shard\.1\.2"/);
  store.close();
});

Deno.test("sweep store writes a snapshot by itself once the journal grew 1 MiB past one", async () => {
  const dir = await sweepOf(Array.from({ length: 100 }, (_, i) => i));
  const store = await SweepStore.open(dir);
  // About 100 bytes a record: 1.4 MB of renewals asks for a snapshot.
  let size = 0;
  for (let round = 0; round < 14_000; round += 1000) {
    await store.transact((tx) => {
      for (let i = 0; i < 1000; i++) {
        tx.append("e", i % 100, { o: "x".repeat(70), x: 1 });
      }
    });
    const now = (await Deno.stat(`${dir}/${LOG}`)).size;
    assert(now > size, "the journal shrank");
    size = now;
  }
  const names = Object.keys(await files(dir));
  assert(
    names.includes("minionize.index.2"),
    `no snapshot was written: ${names}`,
  );
  store.close();
});

Deno.test("sweep view reads a read-only copy, leaves a torn tail alone and reports it", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const store = await SweepStore.open(dir);
  await markDone(store, [1]);
  store.close();
  const journal = await Deno.open(`${dir}/${LOG}`, { append: true });
  await journal.write(encodeRecord("d", 2, "{}").subarray(0, 11));
  journal.close();
  const before = await files(dir);
  await Deno.chmod(`${dir}/${LOG}`, 0o444);
  const view = await viewSweep(dir);
  assertEquals(view.torn, 11);
  assertEquals([...view.state.status], [TODO, DONE, TODO]);
  assertEquals(await files(dir), before);
  await Deno.chmod(`${dir}/${LOG}`, 0o644);
});

Deno.test("sweep store moves a sweep of the first format and stops its old minions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "execo-v1-" });
  // A sweep as minionize 0.1 wrote it: snapshot 3 and a journal after it.
  const header = (g: number) =>
    encodeRecord(
      "h",
      String(g).padStart(12, "0"),
      '{"format":"minionize-sweep","version":1}',
    );
  const join = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  await Deno.writeFile(
    `${dir}/minionize.snapshot.3`,
    join(
      header(3),
      encodeRecord("a", 0, "1"),
      encodeRecord("a", 1, "2"),
      encodeRecord("s", 1, '{"st":2,"a":1}'),
      encodeRecord("a", 2, "3"),
      encodeRecord("z", 3, "{}"),
    ),
  );
  const old = join(header(3), encodeRecord("d", 0, '{"o":"x","w":1}'));
  await Deno.writeFile(`${dir}/minionize.journal`, old);
  const warnings: string[] = [];
  const store = await openSweep(dir, {
    leaseMs: 1000,
    warn: (message) => warnings.push(message),
  });
  assertEquals(statuses(store), [DONE, DONE, TODO]);
  store.close();
  assertMatch(warnings.join("\n"), /moved the sweep/);
  const after = await Deno.readFile(`${dir}/minionize.journal`);
  assertEquals(after.subarray(0, old.length), old);
  assertMatch(new TextDecoder().decode(after.subarray(old.length)), / m 0 /);
  const again = await openSweep(dir, { leaseMs: 1000 });
  assertEquals(statuses(again), [DONE, DONE, TODO]);
  again.close();
});

/** A tmpfs of `size` mounted on a new directory (root), removed by `done`. */
async function smallDisk(
  size: string,
): Promise<{ dir: string; done(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "execo-small-" });
  const mount = async (...args: string[]) => {
    const { code, stderr } = await new Deno.Command(args[0]!, {
      args: args.slice(1),
    }).output();
    assertEquals(code, 0, new TextDecoder().decode(stderr));
  };
  await mount("mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir);
  return {
    dir,
    async done() {
      await mount("umount", dir);
      await Deno.remove(dir);
    },
  };
}

const asRoot = Deno.uid() === 0;

Deno.test({
  name:
    "sweep store on a full disk names the path and the fix, and a snapshot that cannot be written leaves no temporary file",
  ignore: !asRoot,
  async fn() {
    const disk = await smallDisk("2m");
    try {
      const dir = `${disk.dir}/sweep`;
      await Deno.mkdir(dir);
      (await createSweep(dir, Array.from({ length: 3000 }, (_, i) => i))).store
        .close();
      const warnings: string[] = [];
      const store = await SweepStore.open(dir, {
        warn: (message) => warnings.push(message),
      });
      await markDone(store, [0, 1]);
      // Fill what is left, but for a few records' worth.
      const filler = await Deno.open(`${disk.dir}/filler`, {
        write: true,
        create: true,
      });
      const chunk = new Uint8Array(4096);
      try {
        while (true) await filler.write(chunk);
      } catch {
        // full
      }
      filler.close();
      await Deno.truncate(
        `${disk.dir}/filler`,
        (await Deno.stat(`${disk.dir}/filler`)).size - 8192,
      );
      // A snapshot needs more room than that: it fails, and says so.
      await store.compact();
      assertMatch(warnings.join("\n"), /could not write a snapshot.*full/);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert(!names.some((n) => n.includes(".tmp")), `left behind: ${names}`);
      // Records still fit: acks go on.
      await markDone(store, [2]);
      // Then nothing fits: the error names the journal and the fix.
      await Deno.truncate(
        `${disk.dir}/filler`,
        (await Deno.stat(`${disk.dir}/filler`)).size + 8192,
      );
      await rejects(
        markDone(store, Array.from({ length: 500 }, (_, i) => 3 + i)),
        (error: unknown) =>
          error instanceof SweepError && error.problem === "full" &&
          /minionize\.log: the filesystem is full or over quota; free some space there/
            .test(error.message),
      );
      store.close();
      await Deno.remove(`${disk.dir}/filler`);
      const reopened = await SweepStore.open(dir);
      assertEquals(statuses(reopened).slice(0, 3), [DONE, DONE, DONE]);
      reopened.close();
    } finally {
      await disk.done();
    }
  },
});

Deno.test({
  name:
    "sweep view and the sweep commands read a sweep on a read-only mount and change nothing",
  ignore: !asRoot,
  async fn() {
    const source = await sweepOf([1, 2, 3]);
    const store = await SweepStore.open(source);
    await markDone(store, [1]);
    store.close();
    const journal = await Deno.open(`${source}/${LOG}`, { append: true });
    await journal.write(encodeRecord("d", 2, "{}").subarray(0, 11));
    journal.close();
    const disk = await smallDisk("4m");
    try {
      for (const entry of Deno.readDirSync(source)) {
        await Deno.copyFile(
          `${source}/${entry.name}`,
          `${disk.dir}/${entry.name}`,
        );
      }
      const before = await files(disk.dir);
      const remount = await new Deno.Command("mount", {
        args: ["-o", "remount,ro", disk.dir],
      }).output();
      assertEquals(remount.code, 0);
      const view = await viewSweep(disk.dir);
      assertEquals([...view.state.status], [TODO, DONE, TODO]);
      assertEquals(view.torn, 11);
      const cli = (...args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../../../cli.ts", import.meta.url).pathname,
            ...args,
          ],
          env: { EXECO_PERSISTENCE_DIR: disk.dir },
        }).output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      const status = await cli("sweep", "status");
      assertEquals(status.code, 0, decode(status.stderr));
      assertMatch(
        decode(status.stdout),
        /3 params: 2 todo, 0 in progress, 1 done/,
      );
      assertMatch(decode(status.stderr), /torn by a crash/);
      const list = await cli("sweep", "list", "--todo");
      assertEquals(decode(list.stdout), "1\n3\n");
      const dry = await cli("--dry-run", "echo");
      assertEquals(dry.code, 0, decode(dry.stderr));
      assertEquals(decode(dry.stdout).trim().split("\n").length, 2);
      assertEquals(await files(disk.dir), before);
    } finally {
      await disk.done();
    }
  },
});
