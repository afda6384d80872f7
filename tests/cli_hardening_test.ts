/**
 * End-to-end tests of the edges a hostile but realistic user found (issue
 * 13): each fails on the code before its fix.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { CLI, cliCommand, runCli, tempDir } from "./_cli.ts";

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

Deno.test("--results gives params sharing a long prefix their own folders, and every run of a param its own", async () => {
  const dir = await tempDir();
  const prefix =
    "--config experiments/very_long_configuration_name_for_run.yaml --seed";
  const params = [`${prefix} 7885`, `${prefix} 111066`, `${prefix} 7885`];
  const result = await runCli([
    "--results",
    "out",
    "--retries",
    "1",
    "sh",
    "-c",
    'echo "$MINION_ATTEMPT $*"; [ "$MINION_ATTEMPT" = 2 ]',
    "sh",
  ], { env: FILE, cwd: dir, stdin: params.join("\n") + "\n" });
  assertEquals(result.code, 0, result.stderr);
  const rows = (await Deno.readTextFile(`${dir}/out/joblog.tsv`)).trim()
    .split("\n").slice(1).map((line) => line.split("\t"));
  // Three params, each run twice: six rows, six folders.
  assertEquals(rows.length, 6);
  const folders = rows.map((row) => row[8]!);
  assertEquals(new Set(folders).size, 6, folders.join("\n"));
  const outputs = await Promise.all(
    folders.map((folder) => Deno.readTextFile(`${dir}/out/${folder}/stdout`)),
  );
  const words = (text: string) => text.trim().split(" ");
  assertEquals(
    outputs.map((text) => `${words(text)[0]} ${words(text).at(-1)}`).sort(),
    [
      "1 111066",
      "1 7885",
      "1 7885",
      "2 111066",
      "2 7885",
      "2 7885",
    ],
  );
  // The two different params differ in their 128-bit digests; later runs
  // of one param add .2, .3, ...
  for (const folder of folders) {
    assertMatch(folder, /^--config_experiments_.*-[0-9a-f]{32}(\.[2-4])?$/);
  }
  const bases = new Set(folders.map((f) => f.replace(/\.\d$/, "")));
  assertEquals(bases.size, 2);
});

Deno.test("a named pipe as FILE_PATH is never reopened by the stats page, which answers at once", async () => {
  const dir = await tempDir();
  const fifo = `${dir}/params.fifo`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert(made.success);
  const child = cliCommand(
    ["--stats", "0", "sh", "-c", "sleep 1; echo $0"],
    { env: { ...FILE, FILE_PATH: fifo }, cwd: dir },
  ).spawn();
  try {
    // Opening a FIFO for writing waits for its reader, the minion. Once the
    // writer has gone, whoever opens the FIFO again waits for the next one.
    const writer = await Deno.open(fifo, { write: true });
    await writer.write(new TextEncoder().encode("a\nb\n"));
    writer.close();
    // The minion says where its stats are on its first line of stderr.
    const reader = child.stderr.getReader();
    let said = "";
    while (!/\/metrics\n/.test(said)) {
      const { value, done } = await reader.read();
      if (done) break;
      said += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const url = /(http:\/\/\S+)\/stats/.exec(said)?.[1];
    assert(url, said);
    const page = await fetch(`${url}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    assertEquals(page.status, 200);
    assertMatch(await page.text(), /minionize_/);
  } catch (error) {
    child.kill("SIGKILL");
    await child.output();
    throw error;
  }
  const output = await child.output();
  assertEquals(
    [output.code, new TextDecoder().decode(output.stdout)],
    [0, "a\nb\n"],
  );
});

Deno.test("top counts a file queue without opening a named pipe", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/minion-report`);
  const made = await new Deno.Command("mkfifo", { args: [`${dir}/q.fifo`] })
    .output();
  assert(made.success);
  const child = cliCommand(["top", "--once"], {
    env: { ...FILE, FILE_PATH: `${dir}/q.fifo` },
    cwd: dir,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const output = await child.output();
  clearTimeout(timer);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
});

Deno.test("status and top skip JSON lines of a report directory that are not minion events", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/reports`);
  const time = new Date().toISOString();
  const base = { time, minion: "m1", host: "h", pid: 7 };
  const lines = [
    "42",
    "null",
    '"text"',
    "[]",
    '{"a":1}',
    JSON.stringify({ type: "param.finished", ...base, seq: 1 }),
    JSON.stringify({ type: "param.started", ...base, seq: "x" }),
    JSON.stringify({ type: "minion.stopped", time, minion: 3 }),
    JSON.stringify({ type: "param.finished", ...base, time: "never" }),
    JSON.stringify({
      type: "param.finished",
      ...base,
      seq: 1,
      outcome: "exploded",
      timings: { next: 0, setup: 0, process: 1, teardown: 0 },
    }),
    JSON.stringify({
      type: "param.finished",
      ...base,
      seq: 1,
      outcome: "failed",
      error: 5,
      timings: { next: 0, setup: 0, process: 1, teardown: 0 },
    }),
    JSON.stringify({ type: "param.started", ...base, seq: 2, param: "p" }),
    JSON.stringify({
      type: "param.finished",
      ...base,
      seq: 2,
      param: "p",
      attempt: 1,
      outcome: "done",
      timings: { next: 0, setup: 0, process: 5, teardown: 0 },
    }),
  ];
  await Deno.writeTextFile(`${dir}/reports/m1.jsonl`, lines.join("\n") + "\n");
  await Deno.writeTextFile(`${dir}/reports/other.jsonl`, "[1,2]\n{}\n");
  const status = await runCli(["status", "--json", "reports"], { cwd: dir });
  assertEquals(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assertEquals(report.minions.length, 1);
  assertEquals([report.totals.done, report.totals.failed], [1, 0]);
  const table = await runCli(["status", "reports"], { cwd: dir });
  assertEquals(table.code, 0, table.stderr);
  const top = await runCli(["top", "--once", "reports"], {
    cwd: dir,
    env: { MINION_ENGINE: "file", FILE_PATH: "none" },
  });
  assertEquals(top.code, 0, top.stderr);
  assertMatch(top.stdout, /m1/);
});

Deno.test("--shell never runs a param, whatever quotes surround its placeholder", async () => {
  const dir = await tempDir();
  const params = [
    "'; touch pwned1; '",
    '"; touch pwned2; "',
    "$(touch pwned3)",
    "`touch pwned4`",
    "x'\"$(touch pwned5)\"'",
  ];
  const templates = [
    "echo {}",
    "echo '{}'",
    'echo "{}"',
    'echo "$(echo {})"',
    "echo `echo {}`",
    "echo '<'{}'>' | cat",
  ];
  for (const template of templates) {
    const result = await runCli(["--shell", template], {
      env: FILE,
      cwd: dir,
      stdin: params.join("\n") + "\n",
    });
    assertEquals(result.code, 0, `${template}: ${result.stderr}`);
    const expected = template.includes("<")
      ? params.map((p) => `<${p}>`)
      : params;
    assertEquals(result.stdout.trimEnd().split("\n"), expected, template);
  }
  assertEquals([...Deno.readDirSync(dir)], [], "no file may be created");
});

async function sh(script: string, dir: string): Promise<string> {
  const { stdout, stderr, success } = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd: dir,
    env: { NO_COLOR: "1", MINION_ENGINE: "file" },
  }).output();
  assert(success, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

Deno.test("--max-params N on standard input leaves the lines after the N-th to the next reader", async () => {
  const dir = await tempDir();
  const minion = `'${Deno.execPath()}' run -A --quiet '${CLI}'`;
  const lines = Array.from({ length: 2000 }, (_, i) => `p${i}`);
  await Deno.writeTextFile(`${dir}/params`, lines.join("\n") + "\n");
  const expected = lines.map((l, i) => i < 3 ? `ran ${l}` : l).join("\n");
  // A pipe: read no further than the third line.
  const piped = await sh(
    `cat params | { ${minion} --max-params 3 echo ran; cat; }`,
    dir,
  );
  assertEquals(piped.trimEnd(), expected);
  // A file: the shared offset is left just after the third line.
  const redirected = await sh(
    `{ ${minion} --max-params 3 echo ran; cat; } < params`,
    dir,
  );
  assertEquals(redirected.trimEnd(), expected);
  // Two minions one after the other share the input without a gap.
  const shared = await sh(
    `{ ${minion} --max-params 2 echo 1; ${minion} --max-params 2 echo 2; head -n 1; } < params`,
    dir,
  );
  assertEquals(shared, "1 p0\n1 p1\n2 p2\n2 p3\np4\n");
});

Deno.test("a line that is not UTF-8 fails as malformed instead of running with U+FFFD", async () => {
  const dir = await tempDir();
  await Deno.writeFile(
    `${dir}/params`,
    new Uint8Array([0x61, 0x0a, 0x62, 0xff, 0xfe, 0x0a, 0x63, 0x0a]),
  );
  const result = await runCli(["--reporter", "stdout", "echo", "ran"], {
    env: { ...FILE, FILE_PATH: "params" },
    cwd: dir,
  });
  assertEquals(result.code, 1, result.stderr);
  const ran = result.stdout.split("\n").filter((l) => l.startsWith("ran "));
  assertEquals(ran, ["ran a", "ran c"]);
  assertMatch(result.stdout, /line 2: not valid UTF-8 text/);
});

Deno.test("publish refuses a line that is not UTF-8 and publishes nothing", async () => {
  const dir = await tempDir();
  await Deno.writeFile(
    `${dir}/params`,
    new Uint8Array([0x61, 0x0a, 0x62, 0xc3, 0x28, 0x0a]),
  );
  const result = await runCli(["publish", "params"], {
    env: { ...FILE, FILE_PATH: "queue" },
    cwd: dir,
  });
  assertEquals(result.code, 2, result.stderr);
  assertMatch(
    oneErrorLine(result.stderr),
    /line 2 of 'params' is not valid UTF-8 text: .*; convert it to UTF-8/,
  );
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["params"]);
});

/** Pids of the processes whose environment holds `MINION_ID=id`. */
function carrying(id: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (env.split("\0").includes(`MINION_ID=${id}`)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

Deno.test({
  name:
    "a minion killed with -9 leaves no program running: its watchdog stops them",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await tempDir();
    const child = cliCommand([
      "--grace",
      "1",
      "sh",
      "-c",
      // A program, a background process it started, and a program that
      // ignores SIGTERM, all running long.
      'echo "$MINION_ID" > id; sleep 300 & trap "" TERM; sleep 301; wait',
    ], { env: FILE, cwd: dir, stdin: "" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("x\n"));
    await writer.close();
    let id = "";
    for (let i = 0; i < 300 && id === ""; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      id = (await Deno.readTextFile(`${dir}/id`).catch(() => "")).trim();
    }
    assert(id !== "", "the program never started");
    // sh, and both sleeps.
    for (let i = 0; i < 100 && carrying(id).length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assertEquals(carrying(id).length, 3);
    child.kill("SIGKILL");
    // Not its output: orphans would hold its pipes open.
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
    try {
      for (let i = 0; i < 200 && carrying(id).length > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assertEquals(carrying(id), [], "orphans left running");
    } finally {
      for (const pid of carrying(id)) Deno.kill(pid, "SIGKILL");
    }
  },
});

Deno.test("a param over 64 KiB runs, given in MINION_PARAM_FILE instead of MINION_PARAM", async () => {
  const dir = await tempDir();
  const blob = "x".repeat(200 * 1024);
  const param = JSON.stringify({ id: 7, blob });
  const result = await runCli([
    "sh",
    "-c",
    'echo "id=$1 param=${MINION_PARAM:-unset}"; wc -c < "$MINION_PARAM_FILE"; cp "$MINION_PARAM_FILE" copy.json; echo "$MINION_PARAM_FILE" > where',
    "sh",
    "{id}",
  ], {
    env: { ...FILE, FILE_DECODER: "json", TMPDIR: dir },
    cwd: dir,
    stdin: `${param}\n{"id": 8}\n`,
  });
  assertEquals(result.code, 0, result.stderr);
  const [first, size, second] = result.stdout.trim().split("\n");
  assertEquals(first, "id=7 param=unset");
  assertEquals(Number(size), param.length);
  assertEquals(second, 'id=8 param={"id":8}');
  assertEquals(
    JSON.parse(await Deno.readTextFile(`${dir}/copy.json`)).blob,
    blob,
  );
  // The file is removed once the program has exited.
  const where = (await Deno.readTextFile(`${dir}/where`)).trim();
  assertEquals(await Deno.stat(where).then(() => true, () => false), false);
});

Deno.test("an argument over Linux's 128 KiB fails its param with a message naming the limit", async () => {
  const blob = "y".repeat(200 * 1024);
  const result = await runCli(["--reporter", "stdout", "echo", "{blob}"], {
    env: { ...FILE, FILE_DECODER: "json" },
    stdin: `${JSON.stringify({ blob })}\n`,
  });
  assertEquals(result.code, 1, result.stderr);
  assertMatch(
    result.stdout,
    /Cannot run 'echo': argument 1 is 200\.0 KiB, over the 128 KiB Linux allows for one argument; pass big values in files/,
  );
});

Deno.test("a script whose #! interpreter is missing is named as such, at start and per param", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/bad.sh`,
    "#!/no/such/interpreter\necho hi\n",
  );
  await Deno.writeTextFile(`${dir}/crlf.sh`, "#!/bin/sh\r\necho hi\r\n");
  await Deno.writeTextFile(`${dir}/env.sh`, "#!/usr/bin/env no-such-tool\n");
  for (const name of ["bad.sh", "crlf.sh", "env.sh"]) {
    await Deno.chmod(`${dir}/${name}`, 0o755);
  }
  const cases: [string, RegExp][] = [
    [
      "./bad.sh",
      /its interpreter '\/no\/such\/interpreter' \(from its #! line\) does not exist/,
    ],
    [
      "./crlf.sh",
      /its #! line ends with a carriage return \(Windows line endings\)/,
    ],
    [
      "./env.sh",
      /runs 'no-such-tool' through env, and 'no-such-tool' is not on PATH/,
    ],
  ];
  for (const [program, message] of cases) {
    const result = await runCli([program], {
      env: FILE,
      cwd: dir,
      stdin: "x\n",
    });
    assertEquals([result.code, result.stdout], [2, ""], result.stderr);
    assertMatch(oneErrorLine(result.stderr), message);
  }
  // A program named by a placeholder is only known per param.
  const result = await runCli(["--reporter", "stdout", "./{}"], {
    env: FILE,
    cwd: dir,
    stdin: "bad.sh\n",
  });
  assertEquals(result.code, 1);
  assertMatch(
    result.stdout,
    /Cannot run '\.\/bad\.sh': its interpreter '\/no\/such\/interpreter'/,
  );
});

Deno.test("a --param name given twice is refused, not silently narrowed to the last", async () => {
  const dir = await tempDir();
  for (
    const args of [
      ["publish", "--param", "size=1,2", "--param", "size=3"],
      ["sweep", "create", "--param", "size=1,2", "--param", "size=3"],
    ]
  ) {
    const result = await runCli(args, {
      env: { ...FILE, FILE_PATH: "queue", EXECO_PERSISTENCE_DIR: "sweep" },
      cwd: dir,
    });
    assertEquals([result.code, result.stdout], [2, ""], result.stderr);
    assertMatch(
      oneErrorLine(result.stderr),
      /--param size is given twice; give all its levels in one, e\.g\. --param size=1,2,3/,
    );
  }
  assertEquals([...Deno.readDirSync(dir)], []);
});

Deno.test("an unreachable Pulsar broker is a setting error (exit 2) naming the URL, as for every broker", async () => {
  const env = {
    MINION_ENGINE: "pulsar",
    PULSAR_TOPIC: "t",
    PULSAR_CONNECTION: "pulsar://127.0.0.1:1",
  };
  for (const args of [["echo"], ["publish", "--param", "a=1"]]) {
    const result = await runCli(args, { env });
    assertEquals([result.code, result.stdout], [2, ""], result.stderr);
    assertMatch(
      oneErrorLine(result.stderr),
      /^minionize: error: Cannot connect to Pulsar at pulsar:\/\/127\.0\.0\.1:1: .*; check that a Pulsar broker runs there/,
    );
  }
});

Deno.test("a value holding a line break is shown escaped, so the error stays one line", async () => {
  const result = await runCli(["echo"], {
    env: { ...FILE, MINION_CONCURRENCY: "2\n3" },
    stdin: "x\n",
  });
  assertEquals(result.code, 2);
  assertMatch(
    oneErrorLine(result.stderr),
    /is '2\\n3': expected a whole number/,
  );
});

Deno.test("publishing nothing to a named pipe returns at once instead of waiting for a reader", async () => {
  const dir = await tempDir();
  const made = await new Deno.Command("mkfifo", { args: [`${dir}/q.fifo`] })
    .output();
  assert(made.success);
  const child = cliCommand(["publish"], {
    env: { ...FILE, FILE_PATH: "q.fifo" },
    cwd: dir,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const output = await child.output();
  clearTimeout(timer);
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
});

Deno.test("status and top skip lines of an original Python report that it never wrote", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/reports`);
  const uid = "0a1b2c3d-0000-4000-8000-000000000000";
  const lines = [
    { uid, start: 1e20 },
    { uid, start: 1, atomic_actions: 5 },
    { uid, start: 1, atomic_actions: [null] },
    { uid, start: 1, nodename: 7 },
    { uid, start: 1, generation: "x" },
    { uid, start: 1700000000, end: 1700000001, param: "ok" },
  ].map((line) => JSON.stringify(line));
  await Deno.writeTextFile(`${dir}/reports/${uid}`, lines.join("\n") + "\n");
  for (
    const args of [
      ["status", "--json", "reports"],
      ["status", "reports"],
      ["top", "--once", "reports"],
    ]
  ) {
    const result = await runCli(args, {
      cwd: dir,
      env: { MINION_ENGINE: "file", FILE_PATH: "none" },
    });
    assertEquals(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  }
  const report = JSON.parse(
    (await runCli(["status", "--json", "reports"], { cwd: dir })).stdout,
  );
  assertEquals(report.totals.done, 1);
});

Deno.test("with --cpus-per-task, a bad setting is still the only line on stderr", async () => {
  const result = await runCli(["--cpus-per-task", "1", "no-such-program"], {
    env: FILE,
    stdin: "x\n",
  });
  assertEquals(result.code, 2);
  assertMatch(oneErrorLine(result.stderr), /Cannot run 'no-such-program'/);
  // Once every setting has passed, the split is said as before.
  const ok = await runCli(["--cpus-per-task", "1", "true"], {
    env: FILE,
    stdin: "x\n",
  });
  assertEquals(ok.code, 0, ok.stderr);
  assertMatch(ok.stderr, /^minionize: \d+ slots?: 1 CPU per task/);
});
