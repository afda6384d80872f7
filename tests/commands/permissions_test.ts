/**
 * `minionize permissions` prints a `deno run` line with narrow flags, and
 * that line runs a real job; a permission Deno refuses is reported as one,
 * naming the flag to add.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { buildBundle } from "../_bundle.ts";
import { CLI, runCli, tempDir } from "../_cli.ts";
import { freePort } from "../services/harness.ts";
import { redisAvailable, startRedis } from "../services/redis.ts";

const decoder = new TextDecoder();

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `argv` (a `deno run ...` line: its first word is replaced by this Deno). */
async function runLine(
  argv: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<Output> {
  const child = new Deno.Command(Deno.execPath(), {
    args: argv.slice(1),
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * The line `minionize permissions ARGS` prints, as words (none quoted
 * here); every flag but those of `options.unscoped` (and `--allow-env`)
 * names what it grants.
 */
async function permissionsLine(
  args: string[],
  options: {
    cwd: string;
    env?: Record<string, string>;
    entry?: string;
    unscoped?: string[];
  },
): Promise<string[]> {
  const result = options.entry
    ? await runLine(
      ["deno", "run", "-A", options.entry, "permissions", ...args],
      options,
    )
    : await runCli(["permissions", ...args], options);
  assertEquals(result.code, 0, result.stderr);
  const argv = result.stdout.trim().split(" ");
  assertEquals(argv.slice(0, 2), ["deno", "run"]);
  const flags = argv.filter((word) => word.startsWith("-")).slice(0, 6);
  for (const flag of flags.filter((f) => f.startsWith("--allow-"))) {
    assert(
      flag === "--allow-env" || flag.includes("=") ||
        (options.unscoped ?? []).includes(flag),
      `${flag} is not scoped`,
    );
  }
  assert(!argv.includes("-A") && !argv.includes("--allow-all"));
  return argv;
}

/** A narrow-permission `deno run` of the CLI. */
function narrow(flags: string[], args: string[]): string[] {
  return ["deno", "run", ...flags, CLI, ...args];
}

Deno.test("the permissions line runs a file-engine job", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/params`, "1\n2\n");
    const env = { MINION_ENGINE: "file", FILE_PATH: "params" };
    const line = await permissionsLine(["echo", "hi"], { cwd: dir, env });
    // sh for the watchdog that stops the programs of a killed minion.
    assert(line.includes("--allow-run=sh,echo"), line.join(" "));
    assert(line.includes("--allow-sys=hostname"), line.join(" "));
    assertEquals(await runLine(line, { cwd: dir, env }), {
      code: 0,
      stdout: "hi 1\nhi 2\n",
      stderr: "",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the permissions line of the bundle runs a file-engine job", async () => {
  const dir = await tempDir();
  try {
    const bundle = await buildBundle(`${dir}/minionize.js`);
    await Deno.writeTextFile(`${dir}/params`, "1\n");
    const env = { MINION_ENGINE: "file", FILE_PATH: "params" };
    const line = await permissionsLine(["echo", "hi"], {
      cwd: dir,
      env,
      entry: bundle,
    });
    assert(line.includes(bundle), line.join(" "));
    assertEquals(await runLine(line, { cwd: dir, env }), {
      code: 0,
      stdout: "hi 1\n",
      stderr: "",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the permissions line runs an execo job with results, json reports and stats", async () => {
  const dir = await tempDir();
  try {
    const created = await runCli(["sweep", "create"], {
      cwd: dir,
      stdin: "0\n1\n2\n",
    });
    assertEquals(created.code, 0, created.stderr);
    // The engine's lock mark is a symbolic link, which Deno creates only
    // with unscoped read and write (EXECO_SHARED=no does without it: below).
    const env = { MINION_ENGINE: "execo" };
    const args = [
      "-j",
      "2",
      "--results",
      "out",
      "--reporter",
      "json",
      "--stats",
      String(freePort()),
      "echo",
      "hi",
    ];
    const line = await permissionsLine(args, {
      cwd: dir,
      env,
      unscoped: ["--allow-read", "--allow-write"],
    });
    const ran = await runLine(line, { cwd: dir, env });
    assertEquals(ran.code, 0, ran.stderr);
    const joblog = await Deno.readTextFile(`${dir}/out/joblog.tsv`);
    assertEquals(joblog.trim().split("\n").length, 4, joblog);
    const reports = [...Deno.readDirSync(`${dir}/minion-report`)];
    assertEquals(reports.length, 1);
    const status = await runCli(["sweep", "status"], { cwd: dir });
    assertMatch(status.stdout, /3 done/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with EXECO_SHARED=no the execo line grants the sweep's directory only", async () => {
  const dir = await tempDir();
  try {
    await runCli(["sweep", "create"], { cwd: dir, stdin: "0\n1\n" });
    const env = { MINION_ENGINE: "execo", EXECO_SHARED: "no" };
    const line = await permissionsLine(["echo", "hi"], { cwd: dir, env });
    assert(line.includes(`--allow-write=${dir}/sweeps`), line.join(" "));
    const ran = await runLine(line, { cwd: dir, env });
    assertEquals(
      [ran.code, ran.stdout.split("\n").filter((l) => l).sort(), ran.stderr],
      [0, ["hi 0", "hi 1"], ""],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without -A a timed-out program is stopped alone, said once, and the minion goes on", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/params`, "1\n2\n");
    const result = await runLine(
      narrow([
        `--allow-read=${dir},/usr/bin/sh,/bin/sh`,
        "--allow-env",
        "--allow-sys=hostname",
        "--allow-run=sh",
      ], ["--timeout", "0.5", "--grace", "0.5", "sh", "-c", "sleep 1; :"]),
      { cwd: dir, env: { MINION_ENGINE: "file", FILE_PATH: "params" } },
    );
    assertEquals(result.code, 1, result.stderr);
    const warnings = result.stderr.split("\n")
      .filter((line) => line.includes("Deno lets only -A read /proc"));
    assertEquals(warnings.length, 1, result.stderr);
    assert(!result.stderr.includes("Uncaught"), result.stderr);
    assertMatch(result.stderr, /param 2 failed .*timed out/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "the permissions line runs a redis job against a real server",
  ignore: !redisAvailable(),
  async fn() {
    const dir = await tempDir();
    const server = await startRedis();
    try {
      const env = { ...server.env, MINION_ENGINE: "redis" };
      const published = await runCli(["publish", "--create"], {
        cwd: dir,
        env,
        stdin: "a\nb\n",
      });
      assertEquals(published.code, 0, published.stderr);
      const line = await permissionsLine(
        ["--idle-exit", "1", "echo", "hi"],
        { cwd: dir, env },
      );
      const port = new URL(server.env.REDIS_URL!).port;
      assert(line.includes(`--allow-net=127.0.0.1:${port}`), line.join(" "));
      const ran = await runLine(line, { cwd: dir, env });
      assertEquals(
        [ran.code, ran.stdout.split("\n").filter((l) => l).sort(), ran.stderr],
        [0, ["hi a", "hi b"], ""],
      );
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Flags that run a file-engine job of `echo` from `dir`, all needed. */
function fileJobFlags(dir: string): string[] {
  return [
    `--allow-read=${dir},/usr/bin/echo,/bin/echo`,
    "--allow-env",
    "--allow-sys=hostname",
    "--allow-run=echo",
  ];
}

/** Runs the file-engine job of `echo` in `dir` with `flags` and `args`. */
async function fileJob(
  dir: string,
  flags: string[],
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Output> {
  await Deno.writeTextFile(`${dir}/params`, "1\n");
  return await runLine(narrow(flags, [...args, "echo", "hi"]), {
    cwd: dir,
    env: { MINION_ENGINE: "file", FILE_PATH: "params", ...env },
  });
}

Deno.test("denied permissions are reported as such, naming the flag to add, exit 2", async (t) => {
  const dir = await tempDir();
  try {
    const all = fileJobFlags(dir);
    assertEquals(
      (await fileJob(dir, all)).stdout,
      "hi 1\n",
      "these flags suffice",
    );
    const without = (prefix: string) =>
      all.filter((f) => !f.startsWith(prefix));
    const cases: [string, string[], string[], RegExp][] = [
      [
        "reading PATH's directories: not 'no such program'",
        [`--allow-read=${dir}`, ...without("--allow-read")],
        [],
        /^minionize: error: Cannot look for 'echo' on PATH: Deno denied read access to '[^']+': run with read access to the program, e.g. --allow-read=\$\(command -v echo\)/,
      ],
      [
        "looking for a container runtime",
        [`--allow-read=${dir}`, ...without("--allow-read")],
        ["--container", "busybox"],
        /^minionize: error: Cannot look for a container runtime on PATH: Deno denied read access to '[^']+': run with read access to the runtime, e.g. --allow-read=\$\(command -v podman\)/,
      ],
      [
        "the host name: not a silent localhost",
        without("--allow-sys"),
        [],
        /^minionize: error: Cannot read this machine's host name .*: Deno denied sys access to 'hostname': run with --allow-sys=hostname/,
      ],
      [
        "running the program",
        without("--allow-run"),
        [],
        /^minionize: error: Cannot run 'echo': Deno denied run access to it: run with --allow-run=echo/,
      ],
      [
        "writing the results: not 'give a writable directory'",
        all,
        ["--results", "out"],
        new RegExp(
          `^minionize: error: Cannot use MINION_RESULTS \\(--results\\) 'out': Deno denied write access to 'out': run with --allow-write=${dir}/out \\(`,
        ),
      ],
      [
        "writing reports",
        all,
        ["--reporter", "json"],
        /Deno denied write access to 'minion-report': run with --allow-write=/,
      ],
      [
        "listening for stats",
        all,
        ["--stats", "127.0.0.1:1"],
        /Deno denied net access to '127\.0\.0\.1:1': run with --allow-net=127\.0\.0\.1:1/,
      ],
    ];
    for (const [name, flags, args, pattern] of cases) {
      await t.step(name, async () => {
        const result = await fileJob(dir, flags, args);
        assertEquals([result.code, result.stdout], [2, ""], result.stderr);
        assertMatch(result.stderr, pattern);
        assertEquals(result.stderr.trim().split("\n").length, 1);
        assert(!/writable|no such program/.test(result.stderr));
      });
    }
    await t.step("asking Slurm for the job's end time", async () => {
      const result = await fileJob(dir, all, [], { SLURM_JOB_ID: "7" });
      assertEquals(result.code, 2, result.stderr);
      assertMatch(
        result.stderr,
        /Cannot ask Slurm when this job ends \(squeue\): Deno denied run access to 'squeue': run with --allow-run=squeue/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a denied sweep directory names the flags, not 'make it writable', and takes nothing", async () => {
  const dir = await tempDir();
  try {
    await runCli(["sweep", "create"], { cwd: dir, stdin: "0\n1\n" });
    const result = await runLine(
      narrow(fileJobFlags(dir), ["echo", "hi"]),
      { cwd: dir, env: { MINION_ENGINE: "execo" } },
    );
    assertEquals(result.code, 2, result.stderr);
    assertMatch(
      result.stderr,
      new RegExp(
        `Deno denied it: run with --allow-read=${dir}/sweeps --allow-write=${dir}/sweeps`,
      ),
    );
    const status = await runCli(["sweep", "status"], { cwd: dir });
    assertMatch(status.stdout, /2 todo/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
