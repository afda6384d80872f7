import { assertEquals, assertMatch } from "../_assert.ts";
import { cliCommand, runCli, tempDir } from "../_cli.ts";
import { freePort } from "../services/harness.ts";

function report(minion: string): string {
  const time = new Date().toISOString();
  return [
    { type: "minion.started", engine: "file", callback: "process" },
    { type: "param.started", seq: 1, param: "x", attempt: 1 },
  ].map((e) => JSON.stringify({ time, minion, host: "h1", pid: 7, ...e }))
    .join("\n") + "\n";
}

Deno.test("status waits for the first report, saying so once, then prints it", async () => {
  const dir = await tempDir();
  const child = cliCommand(["status", "--no-pictures", "--wait", "30"], {
    cwd: dir,
  }).spawn();
  // Long enough for status to find nothing and start waiting.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await Deno.mkdir(`${dir}/minion-report`);
  await Deno.writeTextFile(`${dir}/minion-report/m1.jsonl`, report("m1"));
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, stderr);
  assertEquals(
    stderr,
    "minionize: waiting up to 30s for the first report in 'minion-report' (minions write them with MINION_REPORTER=json; --wait 0 not to wait)\n",
  );
  assertMatch(new TextDecoder().decode(output.stdout), /^m1\s+running/m);
});

Deno.test("status gives up after --wait with one error line and exit 2", async () => {
  const dir = await tempDir();
  const result = await runCli(["status", "--wait", "0.3"], { cwd: dir });
  assertEquals(result.code, 2);
  const lines = result.stderr.trim().split("\n");
  assertEquals(lines.length, 2, result.stderr);
  assertMatch(lines[0]!, /^minionize: waiting up to 0\.3s/);
  assertEquals(
    lines[1],
    "minionize: error: Cannot read reports in 'minion-report': it did not appear within 0.3s; run minions with MINION_REPORTER=json, or name their REPORTER_JSON_DIRECTORY",
  );
});

Deno.test("--wait must be a number of seconds, at most a day", async () => {
  for (const value of ["soon", "86401"]) {
    const result = await runCli(["status", "--wait", value], {
      cwd: await tempDir(),
    });
    assertEquals(result.code, 2);
    assertEquals(
      result.stderr,
      `minionize: error: --wait is '${value}': expected a number of seconds from 0 to 86400 (a day), e.g. --wait 60\n`,
    );
  }
});

Deno.test("top waits for the first report too", async () => {
  const dir = await tempDir();
  const child = cliCommand(["top", "--once", "--wait", "30"], { cwd: dir })
    .spawn();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await Deno.mkdir(`${dir}/minion-report`);
  await Deno.writeTextFile(`${dir}/minion-report/m1.jsonl`, report("m1"));
  const output = await child.output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  assertMatch(
    new TextDecoder().decode(output.stdout),
    /1 minions: 1 running, 0 lost, 0 stopped/,
  );
});

Deno.test("top --endpoint adds the endpoints to the reports directory", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/minion-report`);
  await Deno.writeTextFile(`${dir}/minion-report/m1.jsonl`, report("m1"));
  const dead = `127.0.0.1:${freePort()}`;
  const result = await runCli(["top", "--once", "--endpoint", dead], {
    cwd: dir,
  });
  assertEquals(result.code, 0, result.stderr);
  assertMatch(result.stdout, /2 minions: 1 running, 0 lost, 0 stopped/);
  assertMatch(result.stdout, /^m1\s+h1\s+7\s+running/m);
  assertMatch(
    result.stdout,
    /^http:\/\/127\.0\.0\.1:\d+\/stats .*unreachable/m,
  );
});

Deno.test("top --endpoint alone neither waits for nor needs a reports directory", async () => {
  const dead = `127.0.0.1:${freePort()}`;
  const result = await runCli(["top", "--once", "--endpoint", dead], {
    cwd: await tempDir(),
  });
  assertEquals([result.code, result.stderr], [0, ""]);
  assertMatch(result.stdout, /1 minions: 0 running/);
});
