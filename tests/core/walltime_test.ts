import { assert, assertEquals, assertThrows } from "../_assert.ts";
import { runMinion } from "../../core/minion.ts";
import { ConfigError } from "../../core/errors.ts";
import {
  oarEndTime,
  parseDuration,
  percentile95,
  readWalltime,
  slurmEndTime,
  walltimeDeadline,
  walltimeGuard,
} from "../../core/walltime.ts";
import { fakeEngine } from "../_fake_engine.ts";

Deno.test("walltimes are read as seconds or as schedulers write them", () => {
  assertEquals(parseDuration("90"), 90_000);
  assertEquals(parseDuration("1.5"), 1_500);
  assertEquals(parseDuration("2:30"), 150_000);
  assertEquals(parseDuration("1:0:0"), 3_600_000);
  assertEquals(parseDuration("01:02:03"), 3_723_000);
  assertEquals(parseDuration("1-00:00:01"), 86_401_000);
  assertEquals(parseDuration("1h"), undefined);
  assertEquals(parseDuration("1:2:3:4"), undefined);
  assertEquals(readWalltime({ MINION_WALLTIME: "none" }), Infinity);
  assertEquals(readWalltime({}), undefined);
});

Deno.test("a malformed MINION_WALLTIME is a config error naming the fix", () => {
  for (const bad of ["soon", "0", "0:00"]) {
    const error = assertThrows(
      () => readWalltime({ MINION_WALLTIME: bad }),
      ConfigError,
    );
    assert(error.message.includes(`'${bad}'`), error.message);
    assert(error.message.includes("MINION_WALLTIME=2:00:00"), error.message);
  }
});

Deno.test("the 95th percentile is the nearest rank", () => {
  assertEquals(percentile95([]), 0);
  assertEquals(percentile95([7]), 7);
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assertEquals(percentile95(hundred), 95);
  assertEquals(
    percentile95([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 50]),
    1,
  );
  assertEquals(percentile95([1, 1, 1, 1, 1, 1, 1, 1, 1, 50]), 50);
});

Deno.test("the guard allows runs until the time left is below their p95", () => {
  let clock = 1_000;
  const guard = walltimeGuard(11_000, () => clock);
  assertEquals(guard.tooLate(), undefined, "nothing run yet, time left");
  guard.record(3_000);
  clock = 8_000;
  assertEquals(guard.tooLate(), undefined, "3 s left, runs take 3 s");
  clock = 8_001;
  assert(guard.tooLate()?.includes("3s"));
  const late = walltimeGuard(5_000, () => 5_000);
  assertEquals(late.tooLate(), "the walltime has passed");
});

Deno.test("a minion stops taking params when the next one would not fit before the deadline", async () => {
  let clock = 0;
  const engine = fakeEngine([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const warnings: string[] = [];
  const summary = await runMinion({
    engine,
    // every run takes 10 s on the fake clock; 35 s until the deadline
    callback: { process: () => void (clock += 10_000) },
    deadline: 35_000,
    now: () => clock,
    warn: (text) => warnings.push(text),
    print: () => {},
  });
  assertEquals([summary.done, summary.reason, summary.exitCode], [
    3,
    "walltime",
    0,
  ]);
  assertEquals(engine.queue.length, 7, "the others stay in the queue");
  assertEquals(warnings.length, 1);
  assert(warnings[0]!.includes("5s left"), warnings[0]);
});

Deno.test("concurrent workers share one walltime decision", async () => {
  let clock = 0;
  const engine = fakeEngine(Array.from({ length: 20 }, (_, i) => i));
  const warnings: string[] = [];
  const summary = await runMinion({
    engine,
    concurrency: 4,
    callback: {
      process: async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        clock += 2_500; // four at a time: 10 s of wall clock a round
      },
    },
    deadline: 25_000,
    now: () => clock,
    warn: (text) => warnings.push(text),
    print: () => {},
  });
  assertEquals(summary.reason, "walltime");
  assert(summary.done < 20 && summary.done >= 4, `${summary.done} done`);
  assertEquals(engine.queue.length, 20 - summary.done);
  assertEquals(warnings.length, 1);
});

Deno.test("the deadline is --walltime after the start, else the Slurm job's end time", async () => {
  assertEquals(await walltimeDeadline(60_000, {}, 1_000), 61_000);
  assertEquals(
    await walltimeDeadline(Infinity, { SLURM_JOB_END_TIME: "5" }),
    undefined,
  );
  assertEquals(await walltimeDeadline(undefined, {}), undefined);
  assertEquals(
    await slurmEndTime({ SLURM_JOB_END_TIME: "1800000000", SLURM_JOB_ID: "7" }),
    1_800_000_000_000,
  );
  const calls: string[][] = [];
  const squeue =
    (printed: string | undefined) => (cmd: string, args: string[]) => {
      calls.push([cmd, ...args]);
      return Promise.resolve(printed);
    };
  assertEquals(
    await slurmEndTime({ SLURM_JOB_ID: "42" }, squeue("2030-01-02T03:04:05\n")),
    new Date(2030, 0, 2, 3, 4, 5).getTime(),
  );
  assertEquals(calls, [["squeue", "-h", "-j", "42", "-o", "%e"]]);
  assertEquals(
    await slurmEndTime({ SLURM_JOB_ID: "42" }, squeue("N/A")),
    undefined,
  );
  assertEquals(
    await slurmEndTime({ SLURM_JOB_ID: "42" }, squeue(undefined)),
    undefined,
  );
  assertEquals(
    await slurmEndTime({}, squeue("2030-01-02T03:04:05")),
    undefined,
  );
});

Deno.test("a param that arrives after a long wait past the point of no time is given back", async () => {
  let clock = 0;
  const engine = fakeEngine([1, 2, 3]);
  const next = engine.next.bind(engine);
  engine.next = async (signal) => {
    const delivery = await next(signal);
    if (delivery?.param === 2) clock += 20_000; // waited for it
    return delivery;
  };
  const summary = await runMinion({
    engine,
    callback: { process: () => void (clock += 5_000) },
    deadline: 22_000,
    now: () => clock,
    warn: () => {},
    print: () => {},
  });
  assertEquals(engine.settled, [["ack", 1], ["release", 2]]);
  assertEquals([summary.done, summary.reason], [1, "walltime"]);
});

Deno.test("under OAR a minion works to the job's walltime from its start", async () => {
  assertEquals(oarEndTime({ OAR_JOB_WALLTIME_SECONDS: "300" }, 1_000), 301_000);
  assertEquals(oarEndTime({ OAR_JOB_WALLTIME_SECONDS: "0" }, 1_000), undefined);
  assertEquals(oarEndTime({}, 1_000), undefined);
  const deadline = await walltimeDeadline(undefined, {
    OAR_JOB_WALLTIME_SECONDS: "60",
  });
  assert(
    deadline !== undefined && Math.abs(deadline - Date.now() - 60_000) < 60_000,
  );
  // An explicit walltime wins.
  assertEquals(
    await walltimeDeadline(5_000, { OAR_JOB_WALLTIME_SECONDS: "60" }, 0),
    5_000,
  );
});
