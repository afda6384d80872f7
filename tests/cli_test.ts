import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { cliCommand, eventually, runCli, tempDir } from "./_cli.ts";
import { VERSION } from "../core/version.ts";

const FILE = { MINION_ENGINE: "file" };

/** Whether `pid` runs (a zombie left for a non-reaping init counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

function oneErrorLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, `expected one line, got:\n${stderr}`);
  assertMatch(lines[0]!, /^minionize: error: /);
  return lines[0]!;
}

Deno.test("the seed's example: each line is appended to the command", async () => {
  const result = await runCli(["echo", "hello"], {
    env: FILE,
    stdin: "1\n2\n\n3\n",
  });
  assertEquals([result.code, result.stdout, result.stderr], [
    0,
    "hello 1\nhello 2\nhello 3\n",
    "",
  ]);
});

Deno.test("shell syntax in params is never evaluated", async () => {
  const dir = await tempDir();
  const params = [
    "$(touch pwned1)",
    "; touch pwned2",
    "`touch pwned3`",
    "* > pwned4",
    "x | touch pwned5",
  ];
  const result = await runCli(["echo"], {
    env: FILE,
    cwd: dir,
    stdin: params.join("\n") + "\n",
  });
  assertEquals(result.code, 0);
  assertEquals(
    result.stdout,
    "$(touch pwned1)\n; touch pwned2\n`touch pwned3`\n* > pwned4\nx | touch pwned5\n",
  );
  assertEquals([...Deno.readDirSync(dir)].length, 0, "no file may be created");
});

Deno.test("--shell runs through sh with every param quoted", async () => {
  const dir = await tempDir();
  const result = await runCli(["--shell", "echo {} | tr a-z A-Z"], {
    env: FILE,
    cwd: dir,
    stdin: "abc\n$(touch pwned)\n",
  });
  assertEquals(result.stdout, "ABC\n$(TOUCH PWNED)\n");
  assertEquals([...Deno.readDirSync(dir)].length, 0);
});

Deno.test("the program sees MINION_PARAM, MINION_ID and MINION_ATTEMPT", async () => {
  const result = await runCli([
    "sh",
    "-c",
    'echo "$MINION_PARAM|$MINION_ID|$MINION_ATTEMPT"',
  ], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: '{"a": [1, "x"]}\n',
  });
  assertMatch(result.stdout, /^\{"a":\[1,"x"\]\}\|[^|]+-\d+-[0-9a-f]{4}\|1\n$/);
});

Deno.test("placeholders pick fields of JSON params", async () => {
  const result = await runCli(["echo", "--size={size}", "{name}"], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: '{"size": 10, "name": "a b"}\n',
  });
  assertEquals(result.stdout, "--size=10 a b\n");
});

Deno.test("a line that is not JSON under FILE_DECODER=json fails alone", async () => {
  const result = await runCli(["echo"], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: '1\n{oops\n"two"\n',
  });
  assertEquals(result.code, 1);
  assertEquals(result.stdout, "1\ntwo\n");
  assertMatch(
    result.stderr,
    /^minionize: param \{oops failed \(attempt 1\): line 2: .*\nminionize: 2 done, 1 failed\n$/,
  );
});

Deno.test("a failing program makes the exit status 1 and the others still run", async () => {
  const result = await runCli(["sh", "-c", 'test "$1" != 2', "x"], {
    env: FILE,
    stdin: "1\n2\n3\n",
  });
  assertEquals(result.code, 1);
});

Deno.test("--retries 2 runs a failing param 3 times, then records it failed", async () => {
  const dir = await tempDir();
  const result = await runCli(
    [
      "--retries",
      "2",
      "--reporter",
      "json",
      "sh",
      "-c",
      'echo "$1 $MINION_ATTEMPT" >> runs; exit 3',
      "x",
    ],
    {
      env: { ...FILE, REPORTER_JSON_DIRECTORY: "reports" },
      cwd: dir,
      stdin: "p\n",
    },
  );
  assertEquals(result.code, 1);
  assertEquals(await Deno.readTextFile(`${dir}/runs`), "p 1\np 2\np 3\n");
  const status = JSON.parse(
    (await runCli(["status", "--json", "reports"], { cwd: dir })).stdout,
  );
  assertEquals([
    status.totals.retried,
    status.totals.failed,
    status.totals.done,
  ], [2, 1, 0]);
});

Deno.test("--timeout kills the program's whole process group", async () => {
  const dir = await tempDir();
  const started = Date.now();
  const result = await runCli(
    [
      "--timeout",
      "0.5",
      "--grace",
      "1",
      "sh",
      "-c",
      "sleep 30 & echo $! > pid; wait",
      "x",
    ],
    { env: FILE, cwd: dir, stdin: "p\n" },
  );
  assertEquals(result.code, 1);
  assert(Date.now() - started < 15_000);
  const pid = Number(await Deno.readTextFile(`${dir}/pid`));
  await eventually("the grandchild to be gone", () => !alive(pid), 5000);
});

Deno.test("DRY=1 and --dry-run print the commands and run nothing", async () => {
  const dir = await tempDir();
  for (
    const [args, env] of [[["--dry-run"], FILE], [[], {
      ...FILE,
      DRY: "1",
    }]] as const
  ) {
    const result = await runCli([...args, "touch", "made"], {
      env,
      cwd: dir,
      stdin: "a\nb c\n'd e'\n",
    });
    assertEquals([result.code, result.stdout], [
      0,
      "touch made a\ntouch made b c\ntouch made 'd e'\n",
    ]);
  }
  assertEquals([...Deno.readDirSync(dir)].length, 0);
});

Deno.test(".env is read from the working directory and never overrides the environment", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "from-dotenv\n");
  await Deno.writeTextFile(`${dir}/b.txt`, "from-environment\n");
  await Deno.writeTextFile(
    `${dir}/.env`,
    "MINION_ENGINE=file\nFILE_PATH=a.txt\n",
  );
  assertEquals((await runCli(["echo"], { cwd: dir })).stdout, "from-dotenv\n");
  assertEquals(
    (await runCli(["echo"], { cwd: dir, env: { FILE_PATH: "b.txt" } })).stdout,
    "from-environment\n",
  );
  // and a flag wins over both
  assertEquals(
    (await runCli(["--engine", "file", "echo"], {
      cwd: dir,
      env: { MINION_ENGINE: "nope" },
    })).code,
    0,
  );
});

Deno.test("bad settings print one line naming the fix and exit 2 before reading a param", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n");
  await Deno.writeTextFile(`${dir}/bad.env`, "MINION_ENGINE file\n");
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["echo"],
      { MINION_ENGINE: "rediss" },
      /MINION_ENGINE \(--engine\) is 'rediss': expected one of/,
    ],
    [
      ["echo"],
      { ...FILE, MINION_REPORTER: "xml" },
      /MINION_REPORTER \(--reporter\) is 'xml'/,
    ],
    [["-j", "many", "echo"], FILE, /MINION_CONCURRENCY \(-j\) is 'many'/],
    [
      ["echo"],
      { ...FILE, MINION_TIMEOUT: "soon" },
      /MINION_TIMEOUT \(--timeout\) is 'soon'/,
    ],
    [
      ["no-such-program-xyz"],
      FILE,
      /Cannot run 'no-such-program-xyz': no such program on PATH/,
    ],
    [["./missing.sh"], FILE, /Cannot run '.\/missing.sh'/],
    [[], FILE, /no program to run/],
    [
      ["echo"],
      { ...FILE, FILE_PATH: "/nonexistent/params" },
      /Cannot read FILE_PATH '\/nonexistent\/params'/,
    ],
    [["echo"], { ...FILE, FILE_PATH: dir }, /Cannot read FILE_PATH/],
    [
      ["echo"],
      { ...FILE, FILE_DECODER: "yaml" },
      /FILE_DECODER is 'yaml': expected one of identity, json/,
    ],
    [["--jobz", "2", "echo"], FILE, /unknown option '--jobz'/],
    [["--reporter", "json", "echo"], {
      ...FILE,
      REPORTER_JSON_DIRECTORY: "/proc/nope",
    }, /REPORTER_JSON_DIRECTORY/],
    [["--results", "/proc/nope", "echo"], FILE, /MINION_RESULTS \(--results\)/],
  ];
  for (const [args, env, pattern] of cases) {
    const result = await runCli(args, {
      env: { FILE_PATH: "params", ...env },
      cwd: dir,
      stdin: "never read\n",
    });
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertMatch(oneErrorLine(result.stderr), pattern);
    assertEquals(result.stdout, "");
  }
  await Deno.rename(`${dir}/bad.env`, `${dir}/.env`);
  const result = await runCli(["echo"], { env: FILE, cwd: dir });
  assertEquals(result.code, 2);
  assertMatch(
    oneErrorLine(result.stderr),
    /\.env: line 1 "MINION_ENGINE file" is not NAME=value/,
  );
});

Deno.test("SIGTERM stops the intake, forwards the signal and gives in-flight params back", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n2\n3\n4\n5\n");
  const script =
    'echo "start $1" >> log; trap \'echo "term $1" >> log; exit 1\' TERM; sleep 30 & wait';
  const child = cliCommand([
    "-j",
    "2",
    "--reporter",
    "json",
    "sh",
    "-c",
    script,
    "x",
  ], {
    env: { ...FILE, FILE_PATH: "params", REPORTER_JSON_DIRECTORY: "reports" },
    cwd: dir,
  }).spawn();
  const log = () => Deno.readTextFile(`${dir}/log`).catch(() => "");
  await eventually(
    "two tasks to start",
    async () => (await log()).split("\n").filter(Boolean).length === 2,
  );
  const signalled = Date.now();
  child.kill("SIGTERM");
  const { code } = await child.output();
  assertEquals(code, 143);
  assert(
    Date.now() - signalled < 10_000,
    "the minion must leave within seconds",
  );
  const lines = (await log()).trim().split("\n").sort();
  assertEquals(lines, ["start 1", "start 2", "term 1", "term 2"]);
  const status = JSON.parse(
    (await runCli(["status", "--json", "reports"], { cwd: dir })).stdout,
  );
  assertEquals([
    status.totals.requeued,
    status.totals.failed,
    status.totals.done,
  ], [2, 0, 0]);
  assertEquals(status.minions[0].state, "stopped (signal)");
});

Deno.test("a second signal kills the program at once", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "p\n");
  const script = "trap '' TERM; echo $$ > pid; sleep 60 & wait; wait";
  const child = cliCommand(["--grace", "60", "sh", "-c", script], {
    env: { ...FILE, FILE_PATH: "params" },
    cwd: dir,
  }).spawn();
  await eventually(
    "the task to start",
    () => Deno.stat(`${dir}/pid`).then(() => true, () => false),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  child.kill("SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill("SIGTERM");
  const { code } = await child.output();
  assertEquals(code, 143);
  const pid = Number((await Deno.readTextFile(`${dir}/pid`)).trim());
  await eventually("the program to be killed", () => !alive(pid), 5000);
});

Deno.test("status sums up minions while they run", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "1\n2\n");
  const child = cliCommand([
    "--reporter",
    "json",
    "sh",
    "-c",
    'touch "started$1"; sleep 1',
    "x",
  ], {
    env: { ...FILE, FILE_PATH: "params" },
    cwd: dir,
  }).spawn();
  await eventually(
    "a task to start",
    () => Deno.stat(`${dir}/started1`).then(() => true, () => false),
  );
  const running = await runCli(["status", "--json"], { cwd: dir });
  const report = JSON.parse(running.stdout);
  assertEquals(report.minions[0].state, "running");
  assertEquals(report.totals.inFlight, 1);
  assertEquals((await child.output()).code, 0);
  const done = await runCli(["status"], { cwd: dir });
  assertMatch(done.stdout, /stopped \(drained\)\s+2\s+0/);
  assertMatch(done.stdout, /^process\s+2\s/m);
});

Deno.test("status of a directory with no reports says how to get some", async () => {
  const dir = await tempDir();
  const result = await runCli(["status", "--wait", "0"], { cwd: dir });
  assertEquals(result.code, 2);
  assertMatch(
    oneErrorLine(result.stderr),
    /Cannot read reports in 'minion-report'.*MINION_REPORTER=json/,
  );
});

Deno.test("-- lets a program named like a subcommand run", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/status`,
    "#!/bin/sh\necho program status $1\n",
    { mode: 0o755 },
  );
  const result = await runCli(["--", "status"], {
    env: { ...FILE, PATH: `${dir}:${Deno.env.get("PATH")}` },
    stdin: "7\n",
  });
  assertEquals(result.stdout, "program status 7\n");
});

Deno.test("--max-params leaves the rest of the input unread", async () => {
  const result = await runCli(["--max-params", "2", "echo"], {
    env: FILE,
    stdin: "1\n2\n3\n",
  });
  assertEquals([result.code, result.stdout], [0, "1\n2\n"]);
});

Deno.test("--idle-exit leaves when nothing comes", async () => {
  const child = cliCommand(["--idle-exit", "0.3", "echo"], {
    env: FILE,
    stdin: "",
  }).spawn();
  // stdin stays open and silent: only the idle timer can end the minion
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("only\n"));
  const output = await child.output();
  assertEquals([output.code, new TextDecoder().decode(output.stdout)], [
    0,
    "only\n",
  ]);
  await writer.close().catch(() => {});
});

Deno.test("--results keeps each param's output and a job log", async () => {
  const dir = await tempDir();
  const result = await runCli([
    "--results",
    "out",
    "sh",
    "-c",
    "echo out $1; echo err $1 >&2; exit $1",
    "x",
  ], {
    env: FILE,
    cwd: dir,
    stdin: "0\n3\n",
  });
  assertEquals([result.code, result.stdout], [1, ""]);
  const joblog = (await Deno.readTextFile(`${dir}/out/joblog.tsv`)).trim()
    .split("\n");
  assertEquals(
    joblog[0],
    "seq\tminion\thost\tstart\truntime\tattempt\texitcode\tsignal\toutput\tcommand",
  );
  const rows = joblog.slice(1).map((line) => line.split("\t")).sort((a, b) =>
    a[6]!.localeCompare(b[6]!)
  );
  assertEquals(rows.map((r) => [r[6], r[9]]), [[
    "0",
    "sh -c 'echo out $1; echo err $1 >&2; exit $1' x 0",
  ], [
    "3",
    "sh -c 'echo out $1; echo err $1 >&2; exit $1' x 3",
  ]]);
  assertEquals(
    await Deno.readTextFile(`${dir}/out/${rows[1]![8]}/stdout`),
    "out 3\n",
  );
  assertEquals(
    await Deno.readTextFile(`${dir}/out/${rows[1]![8]}/stderr`),
    "err 3\n",
  );
});

Deno.test("the stdout reporter prints one line per param", async () => {
  const result = await runCli(["--reporter", "stdout", "true"], {
    env: FILE,
    stdin: "a\n",
  });
  assertMatch(result.stdout, /^done\t\d+\.\d{3}s\tattempt=1\ta\n$/);
});

Deno.test("--help and --version answer without running anything", async () => {
  const help = await runCli(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(
    help.stdout,
    /Usage: minionize \[OPTIONS\] \[--\] \[PROGRAM \[ARGS/,
  );
  for (
    const variable of [
      "MINION_ENGINE",
      "MINION_CONCURRENCY",
      "MINION_RETRIES",
      "MINION_TIMEOUT",
      "DRY",
    ]
  ) {
    assertMatch(help.stdout, new RegExp(variable));
  }
  const version = await runCli(["--version"]);
  assertEquals(version.stdout, `minionize ${VERSION}\n`);
});

Deno.test("a program killed by the same SIGTERM as its minion is given back, not failed", async () => {
  // Like `scancel --full`: the scheduler signals every process of the job,
  // and the program may die before the minion hears of it.
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, "p\n");
  const child = cliCommand(
    [
      "--reporter",
      "json",
      "sh",
      "-c",
      "echo $$ > pid; sleep 30 & echo $! > sleeper; wait",
    ],
    {
      env: { ...FILE, FILE_PATH: "params", REPORTER_JSON_DIRECTORY: "r" },
      cwd: dir,
    },
  ).spawn();
  await eventually(
    "the task to start",
    () => Deno.stat(`${dir}/pid`).then(() => true, () => false),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  Deno.kill(Number((await Deno.readTextFile(`${dir}/pid`)).trim()), "SIGTERM");
  await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill("SIGTERM");
  // The program's own `sleep` keeps the output pipes open: wait for the
  // minion only.
  assertEquals((await child.status).code, 143);
  await child.stdout.cancel();
  await child.stderr.cancel();
  Deno.kill(Number(await Deno.readTextFile(`${dir}/sleeper`)), "SIGKILL");
  const status = JSON.parse(
    (await runCli(["status", "--json", "r"], { cwd: dir })).stdout,
  );
  assertEquals([status.totals.requeued, status.totals.failed], [1, 0]);
});
