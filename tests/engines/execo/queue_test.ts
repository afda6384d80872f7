import { assert, assertEquals } from "../../_assert.ts";
import { rejects } from "node:assert/strict";
import type { Delivery, Engine } from "../../../core/contracts.ts";
import { sweepQueue } from "../../../engines/execo/queue.ts";
import { CLAIMED, DONE, TODO } from "../../../engines/execo/param_state.ts";
import { createSweep, openSweep } from "../../../engines/execo/sweep.ts";

const never = new AbortController().signal;

async function sweepOf(params: number[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "execo-queue-" });
  (await createSweep(dir, params)).store.close();
  return dir;
}

async function queue(dir: string, leaseMs = 60_000): Promise<Engine> {
  return sweepQueue(await openSweep(dir, { leaseMs }), {
    leaseMs,
    warn: () => {},
  });
}

async function state(dir: string) {
  const store = await openSweep(dir, { leaseMs: 1000 });
  store.close();
  return store.state;
}

Deno.test("execo queue hands each param to one of two minions, then drains", async () => {
  const dir = await sweepOf([1, 2, 3, 4, 5]);
  const [a, b] = [await queue(dir), await queue(dir)];
  const seen: number[] = [];
  for (let turn = 0;; turn++) {
    const delivery = await (turn % 2 ? a : b).next(never);
    if (!delivery) break;
    seen.push(delivery.param as number);
    assertEquals(delivery.attempt, 1);
    await delivery.ack();
  }
  assertEquals(seen.sort(), [1, 2, 3, 4, 5]);
  assertEquals(await a.next(never), undefined);
  await a.close();
  await b.close();
  assertEquals((await state(dir)).counts.done, 5);
});

Deno.test("execo queue counts a nack as an attempt but not a release", async () => {
  const dir = await sweepOf([7]);
  const q = await queue(dir);
  let d = (await q.next(never))!;
  assertEquals(d.attempt, 1);
  await d.release();
  d = (await q.next(never))!;
  assertEquals(d.attempt, 1);
  await d.nack();
  d = (await q.next(never))!;
  assertEquals(d.attempt, 2);
  await d.fail("exit 3");
  assertEquals(await q.next(never), undefined);
  await q.close();
  const s = await state(dir);
  assertEquals(s.counts.failed, 1);
  assertEquals(s.failures.get(0)?.reason, "exit 3");
});

Deno.test("execo queue gives a param whose lease ran out to another minion", async () => {
  const dir = await sweepOf([1]);
  const a = await queue(dir, 200);
  const b = await queue(dir, 200);
  const held = (await a.next(never))!;
  const started = Date.now();
  const taken = (await b.next(never))!; // waits for the lease to run out
  assert(Date.now() - started >= 150, "taken before the lease ran out");
  assertEquals(taken.param, 1);
  assertEquals(taken.attempt, 2);
  await rejects(held.renew!(), /lease ran out/);
  // The first minion's late ack still counts: a result is never thrown away.
  await held.ack();
  await a.close(); // writes what it acknowledged
  assertEquals((await state(dir)).status[0], DONE);
  await taken.ack();
  await b.close();
});

Deno.test("execo queue keeps a renewed claim past its first lease", async () => {
  const dir = await sweepOf([1]);
  const a = await queue(dir, 300);
  const b = await queue(dir, 300);
  const held = (await a.next(never))!;
  const timer = setInterval(() => held.renew!(), a.renewEveryMs!);
  const waiting = AbortSignal.timeout(1000);
  assertEquals(await b.next(waiting), undefined);
  clearInterval(timer);
  assertEquals((await state(dir)).status[0], CLAIMED);
  await held.ack();
  await a.close();
  await b.close();
});

Deno.test("execo queue hands a released param to a waiting minion at once", async () => {
  const dir = await sweepOf([1]);
  const a = await queue(dir);
  const b = await queue(dir);
  const held = (await a.next(never))!;
  const waiting = b.next(never);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const released = Date.now();
  await held.release();
  const taken = (await waiting)!;
  assert(Date.now() - released < 1000, "not taken within a second");
  assertEquals(taken.attempt, 1);
  await taken.ack();
  await a.close();
  await b.close();
});

Deno.test("execo queue resolves undefined on abort and keeps nothing claimed", async () => {
  const dir = await sweepOf([1]);
  const a = await queue(dir);
  const b = await queue(dir);
  const held = (await a.next(never))!;
  const stop = new AbortController();
  const waiting = b.next(stop.signal);
  setTimeout(() => stop.abort(), 200);
  assertEquals(await waiting, undefined);
  const aborted = new AbortController();
  aborted.abort();
  assertEquals(await b.next(aborted.signal), undefined);
  await held.release();
  assertEquals((await state(dir)).status[0], TODO);
  await a.close();
  await b.close();
});

Deno.test("execo queue writes an ack with its next claim, or alone soon after", async () => {
  const dir = await sweepOf([1, 2, 3]);
  const q = await queue(dir);
  const first = (await q.next(never))!;
  await first.ack();
  const second = (await q.next(never))!;
  // One visit wrote the ack and the next claim.
  const lines = (await Deno.readTextFile(`${dir}/minionize.log`)).trim()
    .split("\n").map((line) => line.split(" ")[1]);
  assertEquals(lines.slice(-2), ["d", "c"]);
  await second.ack();
  // Nothing follows it: it is written within a moment anyway.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const s = await state(dir);
  assertEquals(s.counts.done, 2);
  await q.close();
});

Deno.test("execo queue gives back what it still holds when closed", async () => {
  const dir = await sweepOf([1, 2]);
  const a = await queue(dir);
  const held: Delivery[] = [(await a.next(never))!, (await a.next(never))!];
  assertEquals(held.length, 2);
  await a.close();
  const s = await state(dir);
  assertEquals(s.counts.todo, 2);
  assertEquals(s.attempts, [0, 0]);
});

Deno.test("execo publish adds params to the sweep, creating it when asked", async () => {
  const { execoEngine } = await import("../../../engines/execo/mod.ts");
  const dir = `${await Deno.makeTempDir({ prefix: "execo-publish-" })}/new`;
  async function* params() {
    yield* [1, "a", { x: [1, 2] }, 1];
  }
  const env = { EXECO_PERSISTENCE_DIR: dir };
  await rejects(
    execoEngine.publish!(params(), { env, create: false }),
    /EXECO_PERSISTENCE_DIR .* does not exist/,
  );
  assertEquals(await execoEngine.publish!(params(), { env, create: true }), 3);
  assertEquals(await execoEngine.publish!(params(), { env, create: false }), 0);
  assertEquals((await state(dir)).texts, ["1", '"a"', '{"x":[1,2]}']);
});
