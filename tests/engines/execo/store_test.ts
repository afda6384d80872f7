import { assert, assertEquals } from "../../_assert.ts";
import { rejects } from "node:assert/strict";
import { encodeRecord } from "../../../engines/execo/log.ts";
import { DONE, TODO } from "../../../engines/execo/state.ts";
import {
  JOURNAL,
  SNAPSHOT_PREFIX,
  SweepError,
  SweepStore,
} from "../../../engines/execo/store.ts";
import { addParams, createSweep } from "../../../engines/execo/sweep.ts";

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

Deno.test("sweep store cuts a record torn by a crash and keeps every ack", async () => {
  const dir = await sweepOf([1, 2, 3]);
  let store = await SweepStore.open(dir);
  await markDone(store, [0, 1]);
  store.close();
  const torn = encodeRecord("d", 2, '{"o":"t","w":1}').subarray(0, 20);
  const journal = await Deno.open(`${dir}/${JOURNAL}`, { append: true });
  await journal.write(torn);
  journal.close();
  const before = (await Deno.stat(`${dir}/${JOURNAL}`)).size;
  let repaired = 0;
  store = await SweepStore.open(dir, { onRepair: (bytes) => repaired = bytes });
  assertEquals(repaired, 20);
  assertEquals((await Deno.stat(`${dir}/${JOURNAL}`)).size, before - 20);
  assertEquals(store.state.status, [DONE, DONE, TODO]);
  await markDone(store, [2]);
  store.close();
  store = await SweepStore.open(dir);
  assertEquals(store.state.status, [DONE, DONE, DONE]);
  store.close();
});

Deno.test("sweep store refuses a journal damaged in the middle and changes no file", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0, 1, 2]);
  store.close();
  const path = `${dir}/${JOURNAL}`;
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 60] = bytes[bytes.length - 60]! ^ 0x20;
  await Deno.writeFile(path, bytes);
  const before = await files(dir);
  await rejects(
    SweepStore.open(dir),
    (error: unknown) =>
      error instanceof SweepError && error.problem === "corrupt" &&
      /damaged at byte/.test(error.message),
  );
  assertEquals(await files(dir), before);
});

Deno.test("sweep store compaction is followed by every other opener", async () => {
  const dir = await sweepOf([1, 2, 3, 4]);
  const a = await SweepStore.open(dir);
  const b = await SweepStore.open(dir);
  await markDone(a, [0]);
  await a.compact();
  assertEquals(
    (await files(dir))[`${SNAPSHOT_PREFIX}2`] !== undefined,
    true,
  );
  await markDone(a, [1]);
  await b.transact(() => {});
  assertEquals(b.state.status, [DONE, DONE, TODO, TODO]);
  await markDone(b, [2]);
  await a.transact(() => {});
  assertEquals(a.state.status, [DONE, DONE, DONE, TODO]);
  assert(
    !(`${SNAPSHOT_PREFIX}1` in await files(dir)),
    "old snapshot left behind",
  );
  a.close();
  b.close();
});

Deno.test("sweep store finishes a compaction that died after its snapshot", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0]);
  const crashed = await files(dir); // snapshot 1 and journal of generation 1
  await store.compact();
  store.close();
  // Put back the old journal and snapshot beside the new snapshot: the state
  // of a compaction killed between its rename and the journal's reset.
  for (const [name, text] of Object.entries(crashed)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  const reopened = await SweepStore.open(dir);
  assertEquals(reopened.state.status, [DONE, TODO, TODO]);
  await markDone(reopened, [1]);
  reopened.close();
  const names = Object.keys(await files(dir)).sort();
  assertEquals(names, [JOURNAL, `${SNAPSHOT_PREFIX}2`]);
  const last = await SweepStore.open(dir);
  assertEquals(last.state.status, [DONE, DONE, TODO]);
  last.close();
});

Deno.test("sweep store compacts by itself once the journal outgrows the snapshot", async () => {
  const dir = await sweepOf(Array.from({ length: 100 }, (_, i) => i));
  const store = await SweepStore.open(dir);
  // About 100 bytes a record: 1.4 MB of renewals forces a compaction.
  for (let round = 0; round < 14_000; round += 1000) {
    await store.transact((tx) => {
      for (let i = 0; i < 1000; i++) {
        tx.append("e", i % 100, { o: "x".repeat(70), x: 1 });
      }
    });
  }
  const names = Object.keys(await files(dir));
  assert(
    names.some((n) =>
      n.startsWith(SNAPSHOT_PREFIX) && n !== `${SNAPSHOT_PREFIX}1`
    ),
    `no compaction happened: ${names}`,
  );
  assert((await Deno.stat(`${dir}/${JOURNAL}`)).size < 1 << 20);
  store.close();
});

Deno.test("sweep store waits for a snapshot that another node's rename has not shown yet", async () => {
  const dir = await sweepOf([1, 2]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0]);
  await store.compact();
  store.close();
  // As an NFS client whose directory cache lags sees it: the journal names
  // generation 2, whose snapshot is not there yet.
  const snapshot = `${dir}/${SNAPSHOT_PREFIX}2`;
  await Deno.rename(snapshot, `${dir}/hidden`);
  const before = await files(dir);
  await rejects(
    SweepStore.open(dir, { snapshotWaitMs: 300 }),
    (error: unknown) =>
      error instanceof SweepError && error.problem === "corrupt" &&
      /minionize.snapshot.2 cannot be found/.test(error.message),
  );
  assertEquals(await files(dir), before);
  setTimeout(() => Deno.renameSync(`${dir}/hidden`, snapshot), 500);
  const late = await SweepStore.open(dir, { snapshotWaitMs: 10_000 });
  assertEquals(late.state.status, [DONE, TODO]);
  late.close();
});

Deno.test("sweep store refuses to append to a journal shortened behind its lock", async () => {
  const dir = await sweepOf([1, 2]);
  const store = await SweepStore.open(dir);
  await markDone(store, [0]);
  const size = (await Deno.stat(`${dir}/${JOURNAL}`)).size;
  await Deno.truncate(`${dir}/${JOURNAL}`, size - 10);
  await rejects(
    markDone(store, [1]),
    (error: unknown) =>
      error instanceof SweepError && /changed by something/.test(error.message),
  );
  assertEquals((await Deno.stat(`${dir}/${JOURNAL}`)).size, size - 10);
  store.close();
});
