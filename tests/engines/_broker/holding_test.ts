import { assert, assertEquals } from "../../_assert.ts";
import { Holdings, renewEvery } from "../../../engines/_broker/holding.ts";

Deno.test("a held delivery settles once: later settles do nothing", async () => {
  const holdings = new Holdings();
  const hold = holdings.take();
  assertEquals([holdings.held, hold.settled], [1, false]);
  const acts: string[] = [];
  await hold.settle(() => acts.push("ack"));
  await hold.settle(() => acts.push("nack"));
  assertEquals(acts, ["ack"]);
  assertEquals([holdings.held, hold.settled], [0, true]);
});

Deno.test("tasks are short once deliveries are settled soon after they are taken", async () => {
  const holdings = new Holdings();
  assert(!holdings.short, "short before any task ended");
  await holdings.take().settle(() => {});
  assert(holdings.short);
});

Deno.test("renewEvery renews three times per lease, at most every 100 ms", () => {
  assertEquals(renewEvery(60_000), 20_000);
  assertEquals(renewEvery(150), 100);
});
