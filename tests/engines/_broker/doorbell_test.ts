import { assert } from "../../_assert.ts";
import { Doorbell } from "../../../engines/_broker/doorbell.ts";

const never = new AbortController().signal;

Deno.test("a ring wakes the waiter", async () => {
  const bell = new Doorbell();
  const waiting = bell.wait(never);
  bell.ring();
  await waiting;
});

Deno.test("an abort wakes the waiter, and a signal aborted already does not wait", async () => {
  const bell = new Doorbell();
  const controller = new AbortController();
  const waiting = bell.wait(controller.signal);
  controller.abort();
  await waiting;
  await bell.wait(AbortSignal.abort());
});

Deno.test("the timeout wakes the waiter", async () => {
  await new Doorbell().wait(never, 1);
});

Deno.test("a ring while nobody waits is not kept for the next wait", async () => {
  const bell = new Doorbell();
  bell.ring();
  let woken = false;
  const waiting = bell.wait(never, 50).then(() => woken = true);
  await Promise.resolve();
  assert(!woken, "woken by a ring that came before the wait");
  await waiting;
});
