import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
} from "../_assert.ts";
import { ROOT, runCli, tempDir } from "../_cli.ts";
import { minionize } from "../../runner/minionize.ts";
import { ProcessCallback } from "../../callbacks/process.ts";
import type { JsonValue } from "../../core/contracts.ts";

/** Runs a TypeScript file as a user's script would be run. */
async function runScript(
  path: string,
  options: { cwd: string; env: Record<string, string> },
) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `--config=${ROOT}deno.json`, path],
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("the seed's MyProcessCallBack runs through minionizer() on the engine named in the environment", async () => {
  const dir = await tempDir();
  // The queue holds {"arg1": ..., "arg2": ...}, as in the seed's example.
  const created = await runCli([
    "sweep",
    "create",
    "--param",
    "arg1=a,b",
    "--param",
    "arg2=1,2",
  ], { cwd: dir });
  assertEquals(created.code, 0, created.stderr);
  await Deno.writeTextFile(
    `${dir}/a.out`,
    '#!/bin/sh\necho "a.out $*" >> "$(dirname "$0")/ran.txt"\n',
  );
  await Deno.chmod(`${dir}/a.out`, 0o755);
  await Deno.writeTextFile(
    `${dir}/minion.ts`,
    `import { type JsonValue, minionizer, ProcessCallback } from "${ROOT}mod.ts";

class MyProcessCallBack extends ProcessCallback {
  override toCmd(param: JsonValue): string[] {
    const p = param as { arg1: string; arg2: number };
    return ["./a.out", "--arg1", p.arg1, String(p.arg2)];
  }
}

const summary = await minionizer(new MyProcessCallBack());
console.log(JSON.stringify(summary));
`,
  );
  const result = await runScript(`${dir}/minion.ts`, {
    cwd: dir,
    env: { MINION_ENGINE: "execo", MINION_CONCURRENCY: "2" },
  });
  assertEquals(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  assertEquals([summary.done, summary.failed, summary.exitCode], [4, 0, 0]);
  const ran = (await Deno.readTextFile(`${dir}/ran.txt`)).trim().split("\n")
    .sort();
  assertEquals(ran, [
    "a.out --arg1 a 1",
    "a.out --arg1 a 2",
    "a.out --arg1 b 1",
    "a.out --arg1 b 2",
  ]);
  const status = await runCli(["sweep", "status"], { cwd: dir });
  assertMatch(status.stdout, / 4 done, 0 failed/);
});

Deno.test("minionize() takes -j, retries and the timeout from the environment and .minionize.yml", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n2\n3\n4\n");
  await Deno.writeTextFile(
    `${dir}/.minionize.yml`,
    `engine: file\nconcurrency: 2\nretries: 1\ntimeout: 0.3\nenv:\n  FILE_PATH: params\n`,
  );
  await Deno.writeTextFile(
    `${dir}/minion.ts`,
    `import { minionize } from "${ROOT}mod.ts";

let running = 0;
let most = 0;
const summary = await minionize(async (param) => {
  running++;
  most = Math.max(most, running);
  try {
    // 4 never finishes in time: it times out twice (retries: 1).
    await new Promise((r) => setTimeout(r, param === "4" ? 1500 : 100));
  } finally {
    running--;
  }
});
console.log(JSON.stringify({ ...summary, most }));
`,
  );
  const result = await runScript(`${dir}/minion.ts`, { cwd: dir, env: {} });
  assertEquals(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  assertEquals(
    [summary.done, summary.failed, summary.retried, summary.most],
    [3, 1, 1, 2],
  );
  assertMatch(
    result.stderr,
    /param 4 failed \(attempt 1, retrying\): timed out after 0\.3s/,
  );
});

Deno.test("a ProcessCallback subclass needs no command of its own", async () => {
  class Sim extends ProcessCallback {
    override toCmd(param: JsonValue): string[] {
      return ["true", String(param)];
    }
  }
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n2\n");
  const lines: string[] = [];
  const summary = await minionize(new Sim(), {
    env: { MINION_ENGINE: "file", FILE_PATH: `${dir}/params` },
    handleSignals: false,
    log: (line) => lines.push(line),
  });
  assertEquals([summary.done, summary.exitCode, lines], [2, 0, []]);
});

Deno.test("a function that throws is reported on the log sink, then summed up", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "ok\nbad\n");
  const lines: string[] = [];
  const summary = await minionize((param) => {
    if (param === "bad") throw new RangeError("bad is out of range");
  }, {
    env: { MINION_ENGINE: "file", FILE_PATH: `${dir}/params` },
    handleSignals: false,
    log: (line) => lines.push(line),
  });
  assertEquals(summary.exitCode, 1);
  assertEquals(lines, [
    "minionize: param bad failed (attempt 1): bad is out of range",
    "minionize: 1 done, 1 failed",
  ]);
});

Deno.test("minionize() rejects what is neither a function nor a callback", async () => {
  const error = await assertRejects(
    () =>
      minionize({ run: () => {} } as never, {
        env: { MINION_ENGINE: "file", FILE_PATH: "/dev/null" },
        handleSignals: false,
      }),
    TypeError,
  );
  assert(error.message.includes("process(param, context)"));
});

Deno.test("a bad setting is a ConfigError before anything is taken", async () => {
  const error = await assertRejects(
    () =>
      minionize(() => {}, {
        env: { MINION_ENGINE: "file", MINION_CONCURRENCY: "many" },
        handleSignals: false,
      }),
    Error,
  );
  assertEquals(error.name, "ConfigError");
});

Deno.test("a second SIGTERM kills the programs and minionize() still returns its summary", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n");
  await Deno.writeTextFile(
    `${dir}/minion.ts`,
    `import { minionize, ProcessCallback } from "${ROOT}mod.ts";

// The program ignores SIGTERM: only the second signal's SIGKILL ends it.
const summary = await minionize(
  new ProcessCallback(["sh", "-c", "trap '' TERM; echo started; while :; do sleep 0.05; done"], { graceMs: 60_000 }),
);
console.log(JSON.stringify(summary));
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `--config=${ROOT}deno.json`, "minion.ts"],
    cwd: dir,
    env: { MINION_ENGINE: "file", FILE_PATH: "params", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("started")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill("SIGTERM");
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const { code } = await child.status;
  await child.stderr.cancel();
  // The script printed the summary itself: nothing called Deno.exit.
  assertEquals(code, 0);
  const summary = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assertEquals([summary.reason, summary.exitCode, summary.requeued], [
    "signal",
    143,
    1,
  ]);
});
