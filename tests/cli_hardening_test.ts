/**
 * End-to-end tests of the edges a hostile but realistic user found (issue
 * 13): each fails on the code before its fix.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { cliCommand, runCli, tempDir } from "./_cli.ts";

const FILE = { MINION_ENGINE: "file" };

function oneErrorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, `expected one line, got:\n${stderr}`);
  assertMatch(lines[0]!, /^minionize: error: /);
  return lines[0]!;
}

Deno.test("a --timeout past 2^31 ms lets runs finish instead of killing them at once", async () => {
  const result = await runCli(
    ["--timeout", "3000000", "sh", "-c", "sleep 0.3; echo ran $0"],
    { env: FILE, stdin: "a\n" },
  );
  assertEquals([result.code, result.stdout], [0, "ran a\n"], result.stderr);
});

Deno.test("an --idle-exit past 2^31 ms waits for the next param instead of leaving at once", async () => {
  const child = cliCommand(["--idle-exit", "3000000", "echo", "got"], {
    env: FILE,
    stdin: "",
  }).spawn();
  await new Promise((resolve) => setTimeout(resolve, 700));
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("late\n"));
  await writer.close();
  const output = await child.output();
  assertEquals(
    [output.code, new TextDecoder().decode(output.stdout)],
    [0, "got late\n"],
  );
});

Deno.test("numbers past their range are refused at start with one line", async () => {
  const dir = await tempDir();
  const cases: [Record<string, string>, string[], RegExp][] = [
    [
      {},
      ["-j", "10000000"],
      /-j\) is '10000000': expected a whole number from 1 to 10000/,
    ],
    [{}, ["--grace", "3000000"], /--grace\) is '3000000'.* to 86400 \(1 day\)/],
    [{ MINION_HEARTBEAT: "3000000" }, [], /MINION_HEARTBEAT is '3000000'/],
    [
      {
        MINION_ENGINE: "execo",
        EXECO_PERSISTENCE_DIR: `${dir}/sweep`,
        MINION_LEASE: "10000000",
      },
      [],
      /MINION_LEASE is '10000000': expected a number of seconds from 1 to 86400/,
    ],
    [{}, ["--timeout", "1e400"], /--timeout\) is '1e400'/],
  ];
  for (const [env, flags, message] of cases) {
    const result = await runCli([...flags, "echo"], {
      env: { ...FILE, ...env },
      cwd: dir,
      stdin: "x\n",
    });
    assertEquals([result.code, result.stdout], [2, ""], result.stderr);
    assertMatch(oneErrorLine(result.stderr), message);
  }
  assert(true);
});

Deno.test("an option given an empty value is refused, not read as its default", async () => {
  for (const flags of [["-j", ""], ["--jobs="], ["--engine", " "]]) {
    const result = await runCli([...flags, "echo"], {
      env: FILE,
      stdin: "x\n",
    });
    assertEquals([result.code, result.stdout], [2, ""], result.stderr);
    assertMatch(
      oneErrorLine(result.stderr),
      /option '(-j|--jobs|--engine)' is given an empty value; give (N|NAME), e\.g\./,
    );
  }
});

Deno.test("--version works after other options, and every command takes --debug", async () => {
  for (const args of [["-j", "2", "--version"], ["--debug", "--version"]]) {
    const result = await runCli(args);
    assertEquals([result.code, result.stderr], [0, ""]);
    assertMatch(result.stdout, /^minionize \d+\.\d+\.\d+/);
  }
  const dir = await tempDir();
  const status = await runCli(["status", "--debug", dir]);
  assertEquals(status.code, 0, status.stderr);
  const init = await runCli(["init", "--debug"], { cwd: dir });
  assertEquals(init.code, 0, init.stderr);
  // A program's own --version is still the program's.
  const echoed = await runCli(["echo", "--version"], {
    env: FILE,
    stdin: "x\n",
  });
  assertEquals(echoed.stdout, "--version x\n");
});
