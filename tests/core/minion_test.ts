import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { runMinion } from "../../core/minion.ts";
import type { MinionEvent } from "../../core/contracts.ts";
import { TaskFailure } from "../../core/errors.ts";
import { fakeEngine } from "../_fake_engine.ts";
import { FakeClock } from "../_fake_clock.ts";
import { quiet, recorder } from "./_loop_kit.ts";

Deno.test("every param is run once and acked, and the minion leaves when drained", async () => {
  const engine = fakeEngine([1, 2, 3]);
  const seen: unknown[] = [];
  const summary = await runMinion({
    engine,
    callback: { process: (p) => void seen.push(p) },
    ...quiet,
  });
  assertEquals(seen, [1, 2, 3]);
  assertEquals(engine.settled, [["ack", 1], ["ack", 2], ["ack", 3]]);
  assertEquals([summary.done, summary.reason, summary.exitCode], [
    3,
    "drained",
    0,
  ]);
});

Deno.test("a failure without retries is recorded failed and the exit code is 1", async () => {
  const engine = fakeEngine(["bad"]);
  const summary = await runMinion({
    engine,
    callback: {
      process: () => {
        throw new TaskFailure("exited with code 3", { exitCode: 3 });
      },
    },
    ...quiet,
  });
  assertEquals(engine.settled, [["fail", "bad"]]);
  assertEquals([summary.failed, summary.exitCode], [1, 1]);
});

Deno.test("--retries reruns in place when the engine cannot redeliver", async () => {
  const engine = fakeEngine(["p"]);
  const { events, reporter } = recorder();
  const attempts: number[] = [];
  const summary = await runMinion({
    engine,
    reporter,
    retries: 2,
    callback: {
      process: (_p, context) => {
        attempts.push(context.attempt);
        throw new Error("boom");
      },
    },
    ...quiet,
  });
  assertEquals(attempts, [1, 2, 3]);
  assertEquals(engine.settled, [["fail", "p"]]);
  const outcomes = events.flatMap((e) =>
    e.type === "param.finished" ? [[e.outcome, e.attempt, e.error]] : []
  );
  assertEquals(outcomes, [["retried", 1, "boom"], ["retried", 2, "boom"], [
    "failed",
    3,
    "boom",
  ]]);
  assertEquals([summary.retried, summary.failed], [2, 1]);
});

Deno.test("--retries gives the param back when the engine redelivers", async () => {
  const engine = fakeEngine(["p"], { redelivers: true });
  let runs = 0;
  await runMinion({
    engine,
    retries: 1,
    callback: {
      process: () => {
        if (++runs < 2) throw new Error("flaky");
      },
    },
    ...quiet,
  });
  assertEquals(engine.settled, [["nack", "p"], ["ack", "p"]]);
});

Deno.test("a malformed delivery is failed without running", async () => {
  const engine = fakeEngine([]);
  engine.queue.push({
    param: "{oops",
    attempt: 1,
    malformed: "line 1: message is not JSON",
  });
  const { events, reporter } = recorder();
  let ran = false;
  const summary = await runMinion({
    engine,
    reporter,
    callback: { process: () => void (ran = true) },
    ...quiet,
  });
  assert(!ran);
  assertEquals(engine.settled, [["fail", "{oops"]]);
  const finished = events.find((e) => e.type === "param.finished");
  assertEquals(
    finished?.type === "param.finished" && finished.error,
    "line 1: message is not JSON",
  );
  assertEquals(summary.failed, 1);
});

Deno.test("-j runs params concurrently, never more than asked", async () => {
  const engine = fakeEngine(Array.from({ length: 12 }, (_, i) => i));
  let running = 0;
  let peak = 0;
  const clock = new FakeClock();
  await clock.run(runMinion({
    engine,
    concurrency: 3,
    clock,
    callback: {
      process: async () => {
        peak = Math.max(peak, ++running);
        await clock.sleep(10);
        running--;
      },
    },
    ...quiet,
  }));
  assertEquals(peak, 3);
  assertEquals(engine.settled.length, 12);
});

Deno.test("each task runs in a slot of 1..j that no running task shares, reused as tasks end", async () => {
  const engine = fakeEngine(Array.from({ length: 20 }, (_, i) => i));
  const { events, reporter } = recorder();
  const busy = new Set<number>();
  const seen: number[] = [];
  const clock = new FakeClock();
  await clock.run(runMinion({
    engine,
    reporter,
    concurrency: 3,
    clock,
    callback: {
      process: async (_param, { slot }) => {
        assert(!busy.has(slot), `slot ${slot} given to two running tasks`);
        busy.add(slot);
        seen.push(slot);
        // Uneven lengths, so that tasks end in another order than they began.
        await clock.sleep(2 + (slot * 7) % 5);
        busy.delete(slot);
      },
    },
    ...quiet,
  }));
  assertEquals(seen.length, 20);
  assertEquals([...new Set(seen)].sort(), [1, 2, 3]);
  const started = events.filter((e) => e.type === "param.started");
  const finished = events.filter((e) => e.type === "param.finished");
  assertEquals(started.map((e) => e.slot), seen);
  for (const e of finished) {
    const start = started.find((s) => s.seq === e.seq)!;
    assertEquals(e.slot, start.slot, `param ${e.param} kept its slot`);
  }
});

Deno.test("a dry run describes each param with the slot it would run in", async () => {
  const lines: string[] = [];
  await runMinion({
    engine: fakeEngine(["a"]),
    dryRun: true,
    concurrency: 2,
    callback: {
      process: () => {},
      describe: (p, slot) => `${p} in slot ${slot}`,
    },
    print: (line) => lines.push(line),
    warn: () => {},
  });
  assertEquals(lines, ["a in slot 1"]);
});

Deno.test("--max-params stops the intake after that many params", async () => {
  const engine = fakeEngine([1, 2, 3, 4, 5]);
  const summary = await runMinion({
    engine,
    maxParams: 2,
    concurrency: 2,
    callback: { process: () => {} },
    ...quiet,
  });
  assertEquals([summary.done, summary.reason, engine.queue.length], [
    2,
    "max-params",
    3,
  ]);
});

Deno.test("--idle-exit leaves a queue that stays empty", async () => {
  const engine = fakeEngine([1], { wait: true });
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine,
    idleExitMs: 50,
    clock,
    callback: { process: () => {} },
    ...quiet,
  }));
  assertEquals([summary.done, summary.reason], [1, "idle"]);
  assertEquals([clock.monotonic(), clock.pending], [50, 0]);
});

Deno.test("a long task's claim is renewed while it runs", async () => {
  const engine = fakeEngine(["long"], { renewEveryMs: 10 });
  const clock = new FakeClock();
  await clock.run(runMinion({
    engine,
    clock,
    callback: { process: () => clock.sleep(80) },
    ...quiet,
  }));
  assert(engine.renewals >= 3, `renewed ${engine.renewals} times`);
});

Deno.test("a dry run prints what would run and settles nothing for good", async () => {
  const engine = fakeEngine(["a", "b"]);
  const lines: string[] = [];
  let ran = false;
  await runMinion({
    engine,
    dryRun: true,
    callback: {
      process: () => void (ran = true),
      describe: (p) => `would run ${p}`,
    },
    print: (line) => lines.push(line),
    warn: () => {},
  });
  assert(!ran);
  assertEquals(lines, ["would run a", "would run b"]);
  assertEquals(engine.settled, [["release", "a"], ["release", "b"]]);
});

Deno.test("events carry the phases' timings and the minion's identity", async () => {
  const engine = fakeEngine([7]);
  const { events, reporter } = recorder();
  const clock = new FakeClock();
  await clock.run(runMinion({
    engine,
    reporter,
    minionId: "m1",
    clock,
    callback: {
      setup: () => clock.sleep(5),
      process: () => clock.sleep(20),
    },
    ...quiet,
  }));
  assertEquals(events.map((e) => e.type), [
    "minion.started",
    "param.started",
    "param.finished",
    "minion.stopped",
  ]);
  const finished = events[2]!;
  assert(finished.type === "param.finished");
  assertEquals([
    finished.minion,
    finished.pid,
    finished.outcome,
    finished.param,
  ], ["m1", Deno.pid, "done", 7]);
  assert(
    finished.timings.process >= 15 && finished.timings.setup >= 3,
    JSON.stringify(finished.timings),
  );
});

Deno.test("an engine that cannot hand out params ends the run with its error", async () => {
  const engine = fakeEngine([]);
  engine.next = () => Promise.reject(new Error("connection refused"));
  await assertRejects(
    () => runMinion({ engine, callback: { process: () => {} }, ...quiet }),
    Error,
    "connection refused",
  );
});

Deno.test("a minion busy with a long task still sends heartbeats, and none after it leaves", async () => {
  const events: MinionEvent[] = [];
  let beats!: () => void;
  const twoBeats = new Promise<void>((resolve) => beats = resolve);
  const reporter = {
    report(event: MinionEvent) {
      events.push(event);
      if (events.filter((e) => e.type === "minion.heartbeat").length === 2) {
        beats();
      }
    },
    close: () => Promise.resolve(),
  };
  const clock = new FakeClock();
  const summary = await clock.run(runMinion({
    engine: fakeEngine(["long"]),
    // The task lasts until two heartbeats were heard while it ran (or fails
    // after a while, so that a minion without heartbeats fails the test).
    callback: {
      process: async () => {
        let timer: { clear(): void } | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = clock.setTimeout(
            () => reject(new Error("no heartbeat")),
            10_000,
          );
        });
        try {
          await Promise.race([twoBeats, deadline]);
        } finally {
          timer?.clear();
        }
      },
    },
    reporter,
    heartbeatMs: 10,
    clock,
  }));
  assertEquals(summary.done, 1);
  const beat = events.find((e) => e.type === "minion.heartbeat");
  assert(beat?.type === "minion.heartbeat");
  assertEquals(beat.inFlight, 1);
  const stopped = events.findIndex((e) => e.type === "minion.stopped");
  assertEquals(stopped, events.length - 1);
  await clock.advance(50);
  assertEquals(events.length - 1, stopped, "no heartbeat after leaving");
});
