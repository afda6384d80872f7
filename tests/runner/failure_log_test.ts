import { assertEquals, assertMatch } from "../_assert.ts";
import { ROOT, runCli, tempDir } from "../_cli.ts";
import { failureLine, summaryLine } from "../../runner/failure_log.ts";
import type { MinionEventMap } from "../../core/contracts.ts";

const FILE = { MINION_ENGINE: "file" };

function event(
  fields: Partial<MinionEventMap["param.finished"]>,
): MinionEventMap["param.finished"] {
  return {
    time: "2026-01-01T00:00:00.000Z",
    minion: "m",
    host: "h",
    pid: 1,
    seq: 1,
    param: "3",
    attempt: 1,
    outcome: "failed",
    slot: 1,
    timings: { next: 0, setup: 0, process: 1, teardown: 0 },
    ...fields,
  };
}

/** The stderr lines of a run, without Deno's own noise. */
function lines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line !== "");
}

Deno.test("a failure line names the param, the error, the attempt and where the output went", () => {
  assertEquals(
    failureLine(event({
      error: "'a.out' exited with code 3",
      exitCode: 3,
      output: "out/3-0a1b2c3d",
    })),
    "minionize: param 3 failed (attempt 1): 'a.out' exited with code 3; output in out/3-0a1b2c3d",
  );
  assertEquals(
    failureLine(event({
      outcome: "retried",
      attempt: 2,
      error: "'a.out' was killed by SIGKILL",
      signal: "SIGKILL",
      output: "inherit",
    })),
    "minionize: param 3 failed (attempt 2, retrying): 'a.out' was killed by SIGKILL; output on the minion's stdout/stderr",
  );
});

Deno.test("a failure line stays one line, however long or multi-line the param and error", () => {
  const line = failureLine(event({
    param: { text: "x".repeat(200) },
    error: "first\n  second",
  }));
  assertEquals(line.split("\n").length, 1);
  assertMatch(
    line,
    /^minionize: param \{"text":"x+… failed \(attempt 1\): first second$/,
  );
});

Deno.test("the summary line is only for a minion that saw failures", () => {
  const base = {
    minionId: "m",
    reason: "drained" as const,
    exitCode: 1,
    requeued: 0,
  };
  assertEquals(
    summaryLine({ ...base, done: 118, failed: 2, retried: 0 }),
    "minionize: 118 done, 2 failed",
  );
  assertEquals(
    summaryLine({ ...base, done: 3, failed: 0, retried: 1 }),
    "minionize: 3 done, 0 failed, 1 retried",
  );
  assertEquals(
    summaryLine({ ...base, exitCode: 0, done: 3, failed: 0, retried: 0 }),
    undefined,
  );
});

Deno.test("a program that exits 3 prints one line per failed param and a summary", async () => {
  const result = await runCli(["sh", "-c", 'test "$0" = ok || exit 3'], {
    env: FILE,
    stdin: "ok\nbad\nok\n",
  });
  assertEquals(result.code, 1);
  assertEquals(lines(result.stderr), [
    "minionize: param bad failed (attempt 1): 'sh' exited with code 3; output on the minion's stdout/stderr",
    "minionize: 2 done, 1 failed",
  ]);
});

Deno.test("each retry prints one line at most, and the output folder is named", async () => {
  const dir = await tempDir();
  const result = await runCli(
    ["--retries", "2", "--results", "out", "sh", "-c", "echo $0; exit 3"],
    { env: FILE, cwd: dir, stdin: "p\n" },
  );
  assertEquals(result.code, 1);
  const printed = lines(result.stderr);
  assertEquals(printed.length, 4, result.stderr);
  const folder = /output in (out\/p-[0-9a-f]+)$/.exec(printed[0]!)?.[1];
  // Each run has a folder of its own: the first, then .2, .3.
  assertEquals(
    printed.map((line) => line.replace(folder ?? "?", "DIR")),
    [
      "minionize: param p failed (attempt 1, retrying): 'sh' exited with code 3; output in DIR",
      "minionize: param p failed (attempt 2, retrying): 'sh' exited with code 3; output in DIR.2",
      "minionize: param p failed (attempt 3): 'sh' exited with code 3; output in DIR.3",
      "minionize: 0 done, 1 failed, 2 retried",
    ],
  );
  for (const run of ["", ".2", ".3"]) {
    assertEquals(
      await Deno.readTextFile(`${dir}/${folder}${run}/stdout`),
      "p\n",
    );
  }
});

Deno.test("a run that times out prints its line", async () => {
  const result = await runCli(["--timeout", "0.2", "--grace", "1", "sleep"], {
    env: FILE,
    stdin: "30\n",
  });
  assertEquals(result.code, 1);
  assertEquals(lines(result.stderr), [
    "minionize: param 30 failed (attempt 1): timed out after 0.2s; output on the minion's stdout/stderr",
    "minionize: 0 done, 1 failed",
  ]);
});

Deno.test("a missing {b} field prints a line naming the field", async () => {
  const result = await runCli(["echo", "{a}", "{b}"], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: '{"a": 1}\n',
  });
  assertEquals(result.code, 1);
  assertEquals(result.stdout, "");
  assertEquals(lines(result.stderr), [
    `minionize: param {"a":1} failed (attempt 1): Cannot fill {b}: the param {"a":1} has no field 'b'`,
    "minionize: 0 done, 1 failed",
  ]);
});

Deno.test("a line that is not JSON prints a line saying so", async () => {
  const result = await runCli(["echo"], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: "1\nnot json\n",
  });
  assertEquals(result.code, 1);
  assertEquals(result.stdout, "1\n");
  const printed = lines(result.stderr);
  assertEquals(printed.length, 2, result.stderr);
  assertMatch(
    printed[0]!,
    /^minionize: param not json failed \(attempt 1\): line 2: .*not JSON/,
  );
  assertEquals(printed[1], "minionize: 1 done, 1 failed");
});

Deno.test("a function that throws prints its line on stderr by default", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/minion.ts`,
    `import { minionize } from "${ROOT}mod.ts";
const summary = await minionize((param) => {
  if (param === "b") throw new Error("no b allowed");
});
Deno.exit(summary.exitCode);
`,
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `--config=${ROOT}deno.json`, "minion.ts"],
    cwd: dir,
    env: { NO_COLOR: "1", ...FILE, FILE_PATH: "-" },
    stdin: "piped",
    stderr: "piped",
    stdout: "piped",
  }).spawn();
  const writer = output.stdin.getWriter();
  await writer.write(new TextEncoder().encode("a\nb\n"));
  await writer.close();
  const result = await output.output();
  assertEquals(result.code, 1);
  assertEquals(lines(new TextDecoder().decode(result.stderr)), [
    "minionize: param b failed (attempt 1): no b allowed",
    "minionize: 1 done, 1 failed",
  ]);
});

Deno.test("--quiet and MINION_QUIET turn the lines off", async () => {
  for (
    const [args, env] of [
      [["--quiet"], FILE],
      [["-q"], FILE],
      [[], { ...FILE, MINION_QUIET: "1" }],
    ] as const
  ) {
    const result = await runCli([...args, "sh", "-c", "exit 3"], {
      env,
      stdin: "1\n",
    });
    assertEquals([result.code, result.stderr], [1, ""], `${args} ${env}`);
  }
});

Deno.test("a successful run prints nothing on stderr", async () => {
  const result = await runCli(["true"], { env: FILE, stdin: "1\n2\n" });
  assertEquals([result.code, result.stderr], [0, ""]);
});
