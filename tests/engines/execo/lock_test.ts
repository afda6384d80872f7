import { assert, assertEquals } from "../../_assert.ts";
import { withLock } from "../../../engines/execo/lock.ts";

async function journal(): Promise<{ dir: string; file: Deno.FsFile }> {
  const dir = await Deno.makeTempDir({ prefix: "execo-lock-" });
  const file = await Deno.open(`${dir}/journal`, {
    read: true,
    write: true,
    create: true,
  });
  return { dir, file };
}

const exists = (path: string) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

Deno.test("lock mark is taken and removed around the critical section", async () => {
  const { dir, file } = await journal();
  const mark = `${dir}/lock`;
  const seen = await withLock(file, () => Deno.readLinkSync(mark), { mark });
  assert(seen?.startsWith(`${Deno.hostname()} ${Deno.pid} `), seen);
  assert(!exists(mark), "the mark was left behind");
  file.close();
});

Deno.test("lock mark of a process of this host that is gone is cleared at once", async () => {
  const { dir, file } = await journal();
  const mark = `${dir}/lock`;
  // A process that has exited: its pid is free, or belongs to another start.
  const gone = new Deno.Command("true").spawn();
  await gone.status;
  Deno.symlinkSync(`${Deno.hostname()} ${gone.pid} 12345 1`, mark);
  let stale = 0;
  const started = performance.now();
  assertEquals(
    await withLock(file, () => 7, { mark, onStale: () => stale++ }),
    7,
  );
  assert(
    performance.now() - started < 1000,
    "a dead local holder was waited for",
  );
  assertEquals(stale, 1);
  file.close();
});

Deno.test("lock mark of another host is cleared only after it stayed the same for staleMs", async () => {
  const { dir, file } = await journal();
  const mark = `${dir}/lock`;
  Deno.symlinkSync("elsewhere 4242 999 1", mark);
  let stale = 0;
  const started = performance.now();
  await withLock(file, () => {}, {
    mark,
    staleMs: 300,
    onStale: () => stale++,
  });
  assert(performance.now() - started >= 300, "cleared before staleMs");
  assertEquals(stale, 1);
  file.close();
});

Deno.test("lock mark held by a live holder is waited for and reported, never cleared", async () => {
  const { dir, file } = await journal();
  const mark = `${dir}/lock`;
  // What a holder on another host looks like when flock did not exclude
  // it: its mark is there, and goes away when it is done.
  Deno.symlinkSync("elsewhere 4242 999 1", mark);
  setTimeout(() => Deno.removeSync(mark), 150);
  let shared = 0;
  let stale = 0;
  await withLock(file, () => {}, {
    mark,
    staleMs: 5000,
    onSharedHolder: () => shared++,
    onStale: () => stale++,
  });
  assertEquals({ shared, stale }, { shared: 1, stale: 0 });
  file.close();
});
