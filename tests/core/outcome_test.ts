import { assertEquals } from "../_assert.ts";
import {
  decide,
  type Decision,
  diedOfJobSignal,
  exitCode,
  type ExitFacts,
  type RunFacts,
} from "../../core/outcome.ts";
import { TaskFailure, TaskStop } from "../../core/errors.ts";

const boom = new Error("boom");
const killed = new TaskFailure("'a.out' was killed by SIGTERM", {
  signal: "SIGTERM",
});
const segfault = new TaskFailure("'a.out' was killed by SIGSEGV", {
  signal: "SIGSEGV",
});
const timeout = new TaskStop("timeout", "timed out after 1s");
const shutdown = new TaskStop("shutdown", "the minion is stopping");

type Row = [
  name: string,
  facts: RunFacts,
  expected: Omit<Decision, "timed"> & { timed?: boolean },
];

const rows: Row[] = [
  ["a run that succeeded is acked", { attempt: 1 }, {
    settle: "ack",
    outcome: "done",
    again: false,
    timed: true,
  }],
  ["a success while the minion stops is acked, not run twice", {
    attempt: 1,
    stop: shutdown,
    shuttingDown: true,
  }, { settle: "ack", outcome: "done", again: false, timed: true }],
  ["a failure without retries is failed for good", {
    attempt: 1,
    error: boom,
  }, {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure: boom,
    timed: true,
  }],
  ["a failure with a retry left runs again in place", {
    attempt: 1,
    retries: 1,
    error: boom,
  }, {
    settle: "none",
    outcome: "retried",
    again: true,
    failure: boom,
    timed: true,
  }],
  ["a failure with a retry left goes back to an engine that redelivers", {
    attempt: 2,
    retries: 2,
    redelivers: true,
    error: boom,
  }, {
    settle: "nack",
    outcome: "retried",
    again: false,
    failure: boom,
    timed: true,
  }],
  ["the last retry's failure is failed for good", {
    attempt: 3,
    retries: 2,
    redelivers: true,
    error: boom,
  }, {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure: boom,
    timed: true,
  }],
  ["a timeout is the failure, even when the killed program threw", {
    attempt: 1,
    stop: timeout,
    error: killed,
  }, {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure: timeout,
    timed: true,
  }],
  ["a run the shutdown cut short is given back, uncounted", {
    attempt: 1,
    stop: shutdown,
    shuttingDown: true,
    error: boom,
  }, { settle: "release", outcome: "requeued", again: false, timed: false }],
  [
    "a program killed by the job's SIGTERM while the minion stops is given back",
    {
      attempt: 1,
      error: killed,
      shuttingDown: true,
    },
    { settle: "release", outcome: "requeued", again: false, timed: false },
  ],
  ["a program killed by SIGTERM while the minion goes on has failed", {
    attempt: 1,
    error: killed,
    shuttingDown: false,
  }, {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure: killed,
    timed: true,
  }],
  ["a program dead of another signal while the minion stops has failed", {
    attempt: 1,
    error: segfault,
    shuttingDown: true,
  }, {
    settle: "fail",
    outcome: "failed",
    again: false,
    failure: segfault,
    timed: true,
  }],
  ["a param the minion stopped before running is given back", {
    attempt: 2,
    notStarted: true,
  }, { settle: "release", outcome: "requeued", again: false, timed: false }],
];

for (const [name, facts, expected] of rows) {
  Deno.test(`decide: ${name}`, () => {
    assertEquals(decide(facts), expected);
  });
}

Deno.test("decide: a malformed delivery is failed with its reason, without running", () => {
  const decision = decide({ attempt: 1, malformed: "line 1: not JSON" });
  assertEquals(
    [decision.settle, decision.outcome, decision.again, decision.timed],
    ["fail", "failed", false, false],
  );
  assertEquals((decision.failure as Error).message, "line 1: not JSON");
});

Deno.test("only the signals a scheduler sends a whole job count as the job's", () => {
  assertEquals(
    ["SIGTERM", "SIGINT", "SIGHUP", "SIGKILL", "SIGSEGV"].map((signal) =>
      diedOfJobSignal(new TaskFailure("killed", { signal }))
    ),
    [true, true, true, false, false],
  );
  assertEquals(diedOfJobSignal(new Error("SIGTERM")), false);
  assertEquals(diedOfJobSignal(undefined), false);
});

const exits: [ExitFacts, number][] = [
  [{ reason: "drained" }, 0],
  [{ reason: "drained", failed: 1 }, 1],
  [{ reason: "max-params" }, 0],
  [{ reason: "idle", failed: 0 }, 0],
  [{ reason: "walltime", failed: 2 }, 1],
  [{ reason: "error" }, 1],
  [{ reason: "signal", signal: "SIGINT" }, 130],
  [{ reason: "signal", signal: "SIGTERM", failed: 3 }, 143],
  [{ reason: "signal", signal: "SIGHUP" }, 1],
  [{ reason: "signal" }, 1],
];

for (const [facts, code] of exits) {
  Deno.test(`exitCode: ${JSON.stringify(facts)} exits ${code}`, () => {
    assertEquals(exitCode(facts), code);
  });
}
