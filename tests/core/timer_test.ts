import { assert, assertEquals } from "../_assert.ts";
import { MAX_TIMER_MS } from "../../core/limits.ts";
import {
  longTimeoutSignal,
  setLongTimeout,
  timerDelay,
} from "../../core/timer.ts";

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a delay past 2^31-1 ms does not fire at once", async () => {
  let fired = false;
  const timer = setLongTimeout(() => fired = true, MAX_TIMER_MS + 1_000);
  const signal = longTimeoutSignal(30 * 86_400_000);
  // A plain setTimeout of that length fires after 1 ms.
  await tick(50);
  assertEquals([fired, signal.aborted], [false, false]);
  timer.clear();
});

Deno.test("short long-timeouts fire, and cleared ones do not", async () => {
  const fired: string[] = [];
  setLongTimeout(() => fired.push("short"), 5);
  setLongTimeout(() => fired.push("cleared"), 5).clear();
  const signal = longTimeoutSignal(5);
  await tick(60);
  assertEquals(fired, ["short"]);
  assert(signal.aborted);
  assertEquals((signal.reason as DOMException).name, "TimeoutError");
});

Deno.test("intervals are clamped to what one timer allows", () => {
  assertEquals(timerDelay(1e20), MAX_TIMER_MS);
  assertEquals(timerDelay(-3), 0);
  assertEquals(timerDelay(1_000), 1_000);
});
