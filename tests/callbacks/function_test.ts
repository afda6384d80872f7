import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { FunctionCallback } from "../../callbacks/function.ts";
import { minionize } from "../../runner/minionize.ts";
import { ConfigError, TaskStop } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";

Deno.test("minionize() runs a function over the configured queue", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, '{"n":1}\n{"n":2}\n{"n":3}\n');
  const seen: number[] = [];
  const summary = await minionize((param) => {
    seen.push((param as { n: number }).n);
  }, {
    env: {
      MINION_ENGINE: "file",
      FILE_PATH: `${dir}/params`,
      FILE_DECODER: "json",
    },
    handleSignals: false,
  });
  assertEquals(seen, [1, 2, 3]);
  assertEquals([summary.done, summary.exitCode], [3, 0]);
});

Deno.test("a throwing function fails its param under the retry policy", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "a\n");
  let calls = 0;
  const summary = await minionize(() => {
    calls++;
    throw new Error("nope");
  }, {
    env: {
      MINION_ENGINE: "file",
      FILE_PATH: `${dir}/params`,
      MINION_RETRIES: "1",
    },
    handleSignals: false,
  });
  assertEquals([calls, summary.failed, summary.retried], [2, 1, 1]);
});

Deno.test("a function that ignores its signal is abandoned when it aborts", async () => {
  const callback = new FunctionCallback(() => new Promise(() => {}));
  const controller = new AbortController();
  const running = callback.process("p", {
    minionId: "m",
    attempt: 1,
    seq: 1,
    slot: 1,
    signal: controller.signal,
  });
  controller.abort(new TaskStop("timeout", "timed out after 1s"));
  const error = await assertRejects(() => running, TaskStop);
  assert(error.message.includes("timed out"));
});

Deno.test("a function minion refuses GPUs or CPUs per task, which only programs can be given", async () => {
  for (const variable of ["MINION_GPUS_PER_TASK", "MINION_CPUS_PER_TASK"]) {
    await assertRejects(
      () =>
        minionize(() => {}, {
          env: { MINION_ENGINE: "file", FILE_PATH: "-", [variable]: "1" },
          handleSignals: false,
        }),
      ConfigError,
      `Cannot split ${variable} among functions`,
    );
  }
});
