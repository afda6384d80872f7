import { assert, assertEquals } from "../_assert.ts";
import { runMinion } from "../../core/minion.ts";
import { TaskFailure } from "../../core/errors.ts";
import { fakeEngine } from "../_fake_engine.ts";
import { FakeClock } from "../_fake_clock.ts";
import { quiet, recorder } from "./_loop_kit.ts";

Deno.test("an abort gives running params back without counting, and says the signal's exit code", async () => {
  const engine = fakeEngine([1, 2, 3, 4]);
  const controller = new AbortController();
  const { events, reporter } = recorder();
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    reporter,
    concurrency: 2,
    signal: controller.signal,
    clock,
    callback: {
      process: (_p, context) =>
        new Promise<void>((_, reject) => {
          context.signal.addEventListener("abort", () =>
            reject(new Error("killed")));
          clock.setTimeout(() =>
            controller.abort("SIGTERM"), 10);
        }),
    },
    ...quiet,
  }));
  assertEquals(engine.settled.sort(), [["release", 1], ["release", 2]]);
  assertEquals(engine.queue.length, 2); // never taken
  assertEquals([summary.requeued, summary.reason, summary.exitCode], [
    2,
    "signal",
    143,
  ]);
  const stopped = events.at(-1);
  assertEquals(stopped?.type === "minion.stopped" && stopped.reason, "signal");
});

Deno.test("a run that succeeds while the minion stops is acked, not given back", async () => {
  const engine = fakeEngine([1, 2, 3]);
  const controller = new AbortController();
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    signal: controller.signal,
    clock,
    callback: {
      // finishes its work anyway, as a program the signal reached too late
      process: (_p, context) =>
        new Promise<void>((resolve) => {
          context.signal.addEventListener("abort", () => resolve());
          clock.setTimeout(() => controller.abort("SIGTERM"), 10);
        }),
    },
    ...quiet,
  }));
  assertEquals(engine.settled, [["ack", 1]]);
  assertEquals([summary.done, summary.requeued, summary.reason], [
    1,
    0,
    "signal",
  ]);
});

Deno.test("a run past the timeout is stopped and counts as a failure", async () => {
  const engine = fakeEngine(["slow"]);
  let signalled = false;
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    timeoutMs: 20,
    clock,
    callback: {
      process: (_p, context) =>
        new Promise<void>((resolve) => {
          context.signal.addEventListener("abort", () => {
            signalled = true;
            resolve();
          });
        }),
    },
    ...quiet,
  }));
  assert(signalled);
  assertEquals(clock.monotonic(), 20);
  assertEquals(engine.settled, [["fail", "slow"]]);
  assertEquals(summary.failed, 1);
});

Deno.test("a program killed by SIGTERM just before the minion's own stop is given back, not failed", async () => {
  const engine = fakeEngine(["p"]);
  const controller = new AbortController();
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    signal: controller.signal,
    clock,
    callback: {
      process: () => {
        // The scheduler's signal reaches the minion 300 ms after its program.
        clock.setTimeout(() => controller.abort("SIGTERM"), 300);
        throw new TaskFailure("killed by SIGTERM", { signal: "SIGTERM" });
      },
    },
    ...quiet,
  }));
  assertEquals(engine.settled, [["release", "p"]]);
  assertEquals([summary.requeued, summary.failed, clock.monotonic()], [
    1,
    0,
    300,
  ]);
});

Deno.test("a program killed by SIGTERM while the minion goes on fails after a 500 ms look", async () => {
  const engine = fakeEngine(["p"]);
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    clock,
    callback: {
      process: () => {
        throw new TaskFailure("killed by SIGTERM", { signal: "SIGTERM" });
      },
    },
    ...quiet,
  }));
  assertEquals(engine.settled, [["fail", "p"]]);
  assertEquals([summary.failed, clock.monotonic(), clock.pending], [1, 500, 0]);
});
