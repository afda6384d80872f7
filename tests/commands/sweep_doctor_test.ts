/**
 * `minionize sweep doctor`, end to end: alone and in pairs on a local disk,
 * then with one instance on each of two client mounts of the shared
 * filesystem profiles, where it must pass `coherent` and fail `default` for
 * stale reads and `lock-local` for locks, each with the right fix.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, cliCommand, type CliResult, runCli, tempDir } from "../_cli.ts";
import { available } from "../services/harness.ts";
import {
  SHARED_FS_INSTALL,
  sharedFsAvailable,
  type SharedFsProfile,
  startSharedFs,
} from "../services/shared_fs.ts";

/** Runs `sweep doctor ARGS` and returns its lines by check. */
async function doctor(
  args: string[],
  env: Record<string, string> = {},
): Promise<CliResult & { checks: Record<string, string> }> {
  const result = await runCli(["sweep", "doctor", ...args], { env });
  return { ...result, checks: checks(result.stdout) };
}

/** Verdict lines by check name: `{ lock: "ok    lock    ..." }`. */
function checks(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n").filter(Boolean)) {
    const [, check] = line.split(/ +/);
    out[check!] = line;
  }
  return out;
}

/** Runs one doctor per directory at once (the second `gapMs` later). */
async function together(
  dirs: string[],
  args: string[],
  gapMs = 0,
): Promise<(CliResult & { checks: Record<string, string> })[]> {
  return await Promise.all(dirs.map(async (dir, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * gapMs));
    return await doctor([dir, ...args]);
  }));
}

async function emptyDir(dir: string): Promise<void> {
  const left = [];
  for await (const entry of Deno.readDir(dir)) left.push(entry.name);
  assertEquals(left, [], `${dir} was left with ${left.join(", ")}`);
}

Deno.test("sweep doctor alone reports the filesystem, the probe and the clock, and leaves nothing", async () => {
  const dir = await tempDir();
  const result = await doctor([dir, "--peers", "1"]);
  assertEquals(result.code, 0, result.stderr);
  assertMatch(
    result.checks.mount!,
    /^ok +mount +.* is on \S+ \S+ \(mounted at /,
  );
  assertMatch(
    result.checks.probe!,
    /^ok +probe +created, locked, wrote, read back and removed a file/,
  );
  assertMatch(
    result.checks.clock!,
    /^ok +clock +this host's clock is [0-9.]+ s (ahead of|behind) the file server's/,
  );
  assertMatch(result.checks.peers!, /^skip +peers +no other instance joined/);
  assertEquals(result.stderr, "");
  await emptyDir(dir);
});

Deno.test("two sweep doctors on one local directory meet and pass every check", async () => {
  const dir = await tempDir();
  const results = await together([dir, dir], ["--peers", "2"]);
  for (const result of results) {
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertMatch(result.checks.peers!, /^ok +peers +2 instances met/);
    for (const check of ["lock", "read", "reopen"]) {
      assertMatch(result.checks[check]!, new RegExp(`^ok +${check} `));
    }
  }
  await emptyDir(dir);
});

Deno.test("sweep doctors started seconds apart without --peers meet in the join window", async () => {
  const dir = await tempDir();
  const started = Date.now();
  const results = await together([dir, dir], [], 2_000);
  for (const result of results) {
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertMatch(result.checks.peers!, /^ok +peers +2 instances met/);
  }
  assert(Date.now() - started < 15_000, "took longer than 15 s");
  await emptyDir(dir);
});

Deno.test("sweep doctors meet under their --run name, and under srun as their job step", async () => {
  const dir = await tempDir();
  for (
    const result of await together([dir, dir], [
      "--run",
      "job42",
      "--peers",
      "2",
    ])
  ) {
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertMatch(result.checks.peers!, /^ok +peers +2 instances met/);
    assertMatch(result.stderr, /\.minionize-doctor\/job42\b/);
  }
  const step = {
    SLURM_JOB_ID: "7",
    SLURM_STEP_ID: "0",
    SLURM_STEP_NUM_TASKS: "2",
  };
  const results = await Promise.all([doctor([dir], step), doctor([dir], step)]);
  for (const result of results) {
    assertEquals(result.code, 0, result.stdout + result.stderr);
    assertMatch(result.checks.peers!, /^ok +peers +2 instances met/);
    assertMatch(result.stderr, /\.minionize-doctor\/slurm-7\.0\b/);
  }
  await emptyDir(dir);
});

Deno.test("sweep doctor clears what a killed doctor left, and leaves on SIGINT", async () => {
  const dir = await tempDir();
  const dead = `${dir}/.minionize-doctor/lobby`;
  await Deno.mkdir(dead, { recursive: true });
  await Deno.writeTextFile(`${dead}/join.abc.1.node1`, "");
  const old = new Date(Date.now() - 120_000);
  await Deno.utime(`${dead}/join.abc.1.node1`, old, old);
  await Deno.utime(dead, old, old);
  const result = await doctor([dir, "--peers", "1"]);
  assertEquals(result.code, 0, result.stdout + result.stderr);
  await emptyDir(dir);

  const child = cliCommand(["sweep", "doctor", dir]).spawn();
  // Wait until it waits for others, then interrupt it.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("waiting")) said += (await reader.read()).value ?? "";
  child.kill("SIGINT");
  await reader.cancel();
  const status = await child.status;
  await child.stdout.cancel();
  assertEquals(status.code, 130);
  await emptyDir(dir);
});

Deno.test("sweep doctor refuses bad input with one line and exit 2", async () => {
  const dir = await tempDir();
  const cases: [string[], RegExp][] = [
    [[`${dir}/missing`], /Cannot check '.*missing': it does not exist/],
    [[dir, "--peers", "0"], /option '--peers' is '0': expected/],
    [["--run", "../x", dir], /option '--run' is '\.\.\/x': expected/],
    [[dir, dir], /unexpected argument/],
  ];
  for (const [args, message] of cases) {
    const result = await doctor(args);
    assertEquals(result.code, 2, args.join(" "));
    assertEquals(result.stdout, "");
    assertMatch(result.stderr, /^minionize: error: .*\n$/);
    assertMatch(result.stderr, message);
  }
  await emptyDir(dir);
});

Deno.test({
  name: "sweep doctor warns of a host clock 90 s off the file server's",
  ignore: !available("faketime", SHARED_FS_INSTALL),
  fn: async () => {
    const dir = await tempDir();
    const output = await new Deno.Command("faketime", {
      args: ["-f", "+90s", Deno.execPath(), "run", "-A", "--quiet", CLI, ...[
        "sweep",
        "doctor",
        dir,
        "--peers",
        "1",
      ]],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, stdout);
    assertMatch(
      checks(stdout).clock!,
      /^warn +clock +this host's clock is (89|90)\.[0-9]+ s ahead of the file server's .*; fix: keep the clocks/,
    );
    await emptyDir(dir);
  },
});

/** One doctor on each mount of a fresh shared filesystem in `profile`. */
async function onProfile(profile: SharedFsProfile) {
  const fs = await startSharedFs(profile);
  try {
    const results = await together(fs.mounts, ["--peers", "2"]);
    for (const mount of fs.mounts) await emptyDir(mount);
    return { results, volume: fs.volume };
  } finally {
    await fs.stop();
  }
}

Deno.test({
  name: "sweep doctor passes on two mounts of the coherent GlusterFS volume",
  ignore: !sharedFsAvailable("coherent"),
  fn: async () => {
    const { results } = await onProfile("coherent");
    for (const result of results) {
      assertEquals(result.code, 0, result.stdout + result.stderr);
      assertMatch(result.checks.mount!, /is on fuse\.glusterfs .*shared/);
      for (const check of ["probe", "clock", "peers", "lock", "read"]) {
        assertMatch(result.checks[check]!, new RegExp(`^ok +${check} `));
      }
    }
  },
});

Deno.test({
  name:
    "sweep doctor fails the default GlusterFS volume for stale reads, naming the performance options",
  ignore: !sharedFsAvailable("default"),
  fn: async () => {
    const { results, volume } = await onProfile("default");
    for (const result of results) {
      assertMatch(result.checks.lock!, /^ok +lock /);
    }
    // A read is stale when the reader's caches held the journal before the
    // write: checked twice by each instance; one is enough to fail.
    const failed = results.filter((r) => r.code === 1);
    assert(failed.length > 0, results.map((r) => r.stdout).join("\n"));
    for (const result of failed) {
      const line = /^FAIL +read /.test(result.checks.read!)
        ? result.checks.read!
        : result.checks.reopen!;
      assertMatch(
        line,
        /^FAIL +(read|reopen) +after taking the lock, .* stale/,
      );
      assertMatch(
        line,
        new RegExp(
          `fix: .*gluster volume set ${volume} performance\\.write-behind off .*performance\\.readdir-ahead off, and mount with -o attribute-timeout=0,entry-timeout=0`,
        ),
      );
    }
  },
});

Deno.test({
  name:
    "sweep doctor fails lock-local mounts for locks, naming nolock, local_lock, localflock and BeeGFS",
  ignore: !sharedFsAvailable("lock-local"),
  fn: async () => {
    const { results } = await onProfile("lock-local");
    for (const result of results) {
      assertEquals(result.code, 1, result.stdout + result.stderr);
      assertMatch(
        result.checks.lock!,
        /^FAIL +lock +a lock held by .* did not keep this instance out \(2 of 2 tries\)/,
      );
      for (
        const fix of [
          "nolock",
          "local_lock=none",
          "localflock",
          "tuneUseGlobalFileLocks",
        ]
      ) {
        assert(result.checks.lock!.includes(fix), `no ${fix} in the fix`);
      }
      assertMatch(result.checks.read!, /^ok +read /);
    }
  },
});
