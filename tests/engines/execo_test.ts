/**
 * The execo engine end to end: minion processes on one sweep directory,
 * killed, stopped and restarted, and sweeps written by real Python execo.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { scanRecords } from "../../engines/execo/log.ts";
import { LOG, SweepStore } from "../../engines/execo/store.ts";
import { createSweep } from "../../engines/execo/sweep.ts";
import { available, CACHE, ROOT, waitUntil } from "../services/harness.ts";
import { chaos } from "./_chaos.ts";

const CLI = `${ROOT}cli.ts`;
const PYTHON = `${CACHE}/venv/bin/python`;
/** Appends the minion's id to a file named after the param. */
const MARK = ["sh", "-c", 'echo "$MINION_ID $MINION_ATTEMPT" >> "$0/$1"'];

interface Minion {
  child: Deno.ChildProcess;
  output: Promise<Deno.CommandOutput>;
}

function minion(
  dir: string | undefined,
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Minion {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    env: {
      ...(dir === undefined ? {} : { EXECO_PERSISTENCE_DIR: dir }),
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).spawn();
  return { child, output: child.output() };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const lines = (output: string) => output.split("\n").filter(Boolean);

async function sweepOf(count: number): Promise<{ dir: string; marks: string }> {
  const root = await Deno.makeTempDir({ prefix: "execo-e2e-" });
  const dir = `${root}/sweep`;
  const marks = `${root}/marks`;
  await Deno.mkdir(marks);
  (await createSweep(dir, Array.from({ length: count }, (_, i) => i))).store
    .close();
  return { dir, marks };
}

/** Marker lines by param: one `MINION_ID ATTEMPT` line per run. */
async function runs(marks: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const entry of Deno.readDir(marks)) {
    const lines = (await Deno.readTextFile(`${marks}/${entry.name}`)).trim()
      .split("\n");
    out.set(entry.name, lines);
  }
  return out;
}

/** The pid inside a minion id `host-pid-xxxx`. */
const pidOf = (line: string) => Number(line.split(" ")[0]!.split("-").at(-2));

async function counts(dir: string) {
  const store = await SweepStore.open(dir);
  store.close();
  return { ...store.state.counts };
}

async function journal(dir: string) {
  return scanRecords(await Deno.readFile(`${dir}/${LOG}`)).records.map((
    r,
  ) => ({ ...r, fields: r.type === "h" ? {} : JSON.parse(r.body) }));
}

Deno.test("execo engine: 4 minions -j2 run each of 2,000 params exactly once", async () => {
  const { dir, marks } = await sweepOf(2000);
  const minions = Array.from(
    { length: 4 },
    () => minion(dir, ["-j", "2", ...MARK, marks]),
  );
  for (const { output } of minions) {
    const result = await output;
    assertEquals(result.code, 0, text(result.stderr));
  }
  const seen = await runs(marks);
  assertEquals(seen.size, 2000);
  for (const [param, lines] of seen) {
    assertEquals(lines.length, 1, `param ${param} ran ${lines.length} times`);
  }
  assertEquals(await counts(dir), {
    todo: 0,
    claimed: 0,
    done: 2000,
    failed: 0,
  });
  const claims = (await journal(dir)).filter((r) => r.type === "c");
  assertEquals(claims.length, 2000);
  assertEquals(new Set(claims.map((r) => r.id)).size, 2000);
});

Deno.test("execo engine: chaos of kill -9 loses nothing and repeats only what was in flight", async () => {
  const { dir, marks } = await sweepOf(2000);
  const env = { MINION_LEASE: "5" };
  const { all, killed, running } = await chaos({
    start: () => {
      const m = minion(dir, ["-j", "2", ...MARK, marks], env);
      return { ...m, exited: m.output };
    },
    minions: 4,
    pauseMs: [400, 600],
    maxKills: 20,
    deadlineMs: 150_000,
  });
  assertEquals(running, 0, "minions still running after 150 s");
  for (const m of all) {
    const result = await m.output;
    if (!killed.has(m.child.pid)) {
      assertEquals(result.code, 0, text(result.stderr));
    }
  }
  assertEquals(await counts(dir), {
    todo: 0,
    claimed: 0,
    done: 2000,
    failed: 0,
  });
  const seen = await runs(marks);
  assertEquals(seen.size, 2000, "a param never ran");
  let duplicated = 0;
  for (const [param, lines] of seen) {
    if (lines.length === 1) continue;
    duplicated++;
    // Every run but one must come from a minion that was killed with the
    // param in flight.
    const bySurvivors = lines.filter((l) => !killed.has(pidOf(l))).length;
    assert(
      bySurvivors <= 1,
      `param ${param} ran ${lines.length} times, ${bySurvivors} by live minions: ${lines}`,
    );
  }
  // deno-lint-ignore no-console
  console.log(
    `chaos: ${killed.size} minions killed, ${duplicated} of 2000 params ran twice (all were in flight in a killed minion)`,
  );
});

Deno.test("execo engine: SIGTERM gives the param back and another minion takes it within a second", async () => {
  const { dir, marks } = await sweepOf(2);
  // Param 0 runs for long; param 1 ends at once.
  const task = [
    "sh",
    "-c",
    'echo "$MINION_ID $MINION_ATTEMPT" >> "$0/$1"; [ "$1" = 1 ] || sleep 30',
    marks,
  ];
  const a = minion(dir, task);
  await waitUntil(
    "the first minion's task",
    async () => (await runs(marks)).has("0"),
  );
  const b = minion(dir, task);
  await waitUntil(
    "the second minion's task",
    async () => (await runs(marks)).has("1"),
  );
  await new Promise((resolve) => setTimeout(resolve, 300)); // b now waits
  a.child.kill("SIGTERM");
  assertEquals((await a.output).code, 143);
  await waitUntil(
    "the second minion to take the released param",
    async () => (await runs(marks)).get("0")?.length === 2,
  );
  const records = await journal(dir);
  const release = records.find((r) => r.type === "r" && r.id === 0)!;
  const claims = records.filter((r) => r.type === "c" && r.id === 0);
  assertEquals(claims.length, 2);
  const delay = claims[1]!.fields.w - release.fields.w;
  assert(delay >= 0 && delay < 1000, `taken ${delay} ms after the release`);
  b.child.kill("SIGTERM");
  assertEquals((await b.output).code, 143);
  const store = await SweepStore.open(dir);
  store.close();
  assertEquals(store.state.status[0], 0, "the param is todo again");
  assertEquals(store.state.attempts[0], 0, "a release counts no attempt");
});

Deno.test("execo engine: a param whose minion was killed -9 runs again once its lease runs out", async () => {
  const { dir, marks } = await sweepOf(1);
  const task = [
    "sh",
    "-c",
    'echo "$MINION_ID $MINION_ATTEMPT" >> "$0/$1"; [ "$MINION_ATTEMPT" = 1 ] && sleep 2; true',
    marks,
  ];
  const env = { MINION_LEASE: "1" };
  const a = minion(dir, task, env);
  await waitUntil("the first run", async () => (await runs(marks)).has("0"));
  a.child.kill("SIGKILL");
  await a.output;
  const b = minion(dir, task, env);
  const result = await b.output;
  assertEquals(result.code, 0, text(result.stderr));
  const lines = (await runs(marks)).get("0")!;
  assertEquals(lines.map((l) => l.split(" ")[1]), ["1", "2"]);
  assertEquals((await counts(dir)).done, 1);
});

Deno.test("execo engine: a task longer than the lease keeps its claim by renewing it", async () => {
  const { dir, marks } = await sweepOf(1);
  const task = [
    "sh",
    "-c",
    'echo "$MINION_ID $MINION_ATTEMPT" >> "$0/$1"; sleep 3',
    marks,
  ];
  const env = { MINION_LEASE: "1" };
  const a = minion(dir, task, env);
  await waitUntil("the first run", async () => (await runs(marks)).has("0"));
  const b = minion(dir, task, env);
  for (const m of [a, b]) {
    const result = await m.output;
    assertEquals(result.code, 0, text(result.stderr));
  }
  assertEquals((await runs(marks)).get("0")!.length, 1, "it ran twice");
  const renewals = (await journal(dir)).filter((r) => r.type === "e");
  assert(renewals.length >= 3, `only ${renewals.length} renewals in 3 s`);
});

const faketime = available(
  "faketime",
  "bash tests/services/install.sh glusterfs",
);

Deno.test({
  name:
    "execo engine: a minion whose clock is 90 s ahead never takes a param another minion is running",
  ignore: !faketime,
  async fn() {
    const { dir, marks } = await sweepOf(3);
    // Params 0 and 1 take 6 s, param 2 is quick.
    const task = [
      "sh",
      "-c",
      'echo "$MINION_ID" >> "$0/$1"; [ "$1" -ge 2 ] || sleep 6',
      marks,
    ];
    // The careful protocol of shared filesystems, here on a local disk: it
    // is the one that compares clocks with the file server's.
    const env = { MINION_LEASE: "3", EXECO_SHARED: "yes" };
    const a = minion(dir, ["-j", "2", ...task], env);
    await waitUntil("the first runs", async () => (await runs(marks)).size > 1);
    // The minion ahead takes param 2, then waits while the first one runs
    // 0 and 1 past their leases as its own clock reads them.
    const ahead = new Deno.Command("faketime", {
      args: ["-f", "+90s", Deno.execPath(), "run", "-A", CLI, ...task],
      env: { EXECO_PERSISTENCE_DIR: dir, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const [first, second] = [await a.output, await ahead];
    assertEquals(first.code, 0, text(first.stderr));
    assertEquals(second.code, 0, text(second.stderr));
    const seen = await runs(marks);
    assertEquals([...seen.values()].map((lines) => lines.length), [1, 1, 1]);
    assertMatch(
      text(second.stderr),
      /this host's clock is (89|90|91)s ahead of the file server's/,
    );
    assertEquals((await counts(dir)).done, 3);
  },
});

Deno.test("execo engine: a record torn by a crash is voided, not cut, and acknowledged results stay done", async () => {
  const { dir, marks } = await sweepOf(5);
  let result = await minion(dir, ["--max-params", "2", ...MARK, marks]).output;
  assertEquals(result.code, 0, text(result.stderr));
  const path = `${dir}/${LOG}`;
  const whole = await Deno.readFile(path);
  const file = await Deno.open(path, { append: true });
  await file.write(whole.subarray(whole.length - 40, whole.length - 7));
  file.close();
  const torn = await Deno.readFile(path);
  result = await minion(dir, [...MARK, marks]).output;
  assertEquals(result.code, 0, text(result.stderr));
  assertMatch(
    text(result.stderr),
    /voided 33 bytes of a record torn by a crash/,
  );
  // Every byte that was there is still there, in place.
  assertEquals((await Deno.readFile(path)).subarray(0, torn.length), torn);
  const seen = await runs(marks);
  assertEquals(seen.size, 5);
  for (const lines of seen.values()) assertEquals(lines.length, 1);
  assertEquals((await counts(dir)).done, 5);
});

async function snapshotFiles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    out[entry.name] = entry.isFile
      ? await Deno.readTextFile(`${dir}/${entry.name}`)
      : "(dir)";
  }
  return out;
}

async function refused(
  dir: string,
  pattern: RegExp,
  env: Record<string, string> = {},
) {
  const result = await minion(dir, ["true"], env).output;
  const stderr = text(result.stderr);
  assertEquals(result.code, 2, stderr);
  assertEquals(stderr.trim().split("\n").length, 1, stderr);
  assertMatch(
    stderr,
    /^minionize: error: Cannot use the sweep in EXECO_PERSISTENCE_DIR/,
  );
  assertMatch(stderr, pattern);
}

Deno.test("execo engine: a journal damaged in the middle stops the minion and changes no file", async () => {
  const { dir } = await sweepOf(3);
  const store = await SweepStore.open(dir);
  await store.transact((tx) => {
    for (let id = 0; id < 3; id++) tx.append("d", id, { o: "t", w: tx.now });
  });
  store.close();
  const path = `${dir}/${LOG}`;
  const bytes = await Deno.readFile(path);
  bytes[100] = 0x7e;
  await Deno.writeFile(path, bytes);
  const before = await snapshotFiles(dir);
  await refused(dir, /damaged at byte/);
  assertEquals(await snapshotFiles(dir), before);
});

Deno.test("execo engine: a missing directory, a directory without a sweep and a file are refused", async () => {
  const root = await Deno.makeTempDir({ prefix: "execo-bad-" });
  await refused(
    `${root}/nowhere`,
    /does not exist; create it with 'minionize sweep create'/,
  );
  await Deno.mkdir(`${root}/empty`);
  await refused(`${root}/empty`, /holds no sweep/);
  assertEquals(await snapshotFiles(`${root}/empty`), {});
  await Deno.writeTextFile(`${root}/file`, "x");
  await refused(`${root}/file`, /is not a directory/);
  await Deno.mkdir(`${root}/python`);
  await Deno.writeTextFile(`${root}/python/sweeps`, "not a pickle");
  await refused(`${root}/python`, /cannot read the execo sweep/);
  assertEquals(await snapshotFiles(`${root}/python`), {
    sweeps: "not a pickle",
  });
});

Deno.test("execo engine: a sweep that cannot be written is refused and left alone", async () => {
  const { dir } = await sweepOf(3);
  const before = await snapshotFiles(dir);
  const root = Deno.uid() === 0;
  const readOnly = `${dir}-ro`;
  await Deno.mkdir(readOnly);
  // root writes through permissions: it gets a read-only mount instead.
  const run = async (cmd: string, ...args: string[]) => {
    const { code, stderr } = await new Deno.Command(cmd, { args }).output();
    assertEquals(code, 0, `${cmd} ${args.join(" ")}: ${text(stderr)}`);
  };
  if (root) {
    await run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", readOnly);
  }
  try {
    for (const name of Object.keys(before)) {
      await Deno.copyFile(`${dir}/${name}`, `${readOnly}/${name}`);
    }
    if (root) await run("mount", "-o", "remount,ro", readOnly);
    else await run("chmod", "-R", "a-w", readOnly);
    await refused(
      readOnly,
      /cannot open .* for writing.*make the directory and its files writable/,
    );
    assertEquals(await snapshotFiles(readOnly), before);
  } finally {
    if (root) await run("umount", readOnly);
    else await run("chmod", "-R", "u+w", readOnly);
  }
});

const python = available(PYTHON, "bash tests/services/install.sh execo");

async function py(cwd: string, code: string): Promise<string> {
  const result = await new Deno.Command(PYTHON, { args: ["-c", code], cwd })
    .output();
  assertEquals(result.code, 0, text(result.stderr));
  return text(result.stdout);
}

Deno.test({
  name:
    "execo engine runs the seed's quickstart on a sweep written by Python execo",
  ignore: !python,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "execo-quickstart-" });
    await py(
      cwd,
      "from execo_engine.sweep import ParamSweeper; ParamSweeper('sweeps', sweeps=range(10), save_sweeps=True)",
    );
    const result = await minion(undefined, ["echo", "hello"], {
      MINION_ENGINE: "execo",
    }, cwd).output;
    assertEquals(result.code, 0, text(result.stderr));
    assertEquals(
      text(result.stdout),
      Array.from({ length: 10 }, (_, i) => `hello ${i}\n`).join(""),
    );
  },
});

Deno.test("execo engine: a dry run prints what would run and changes nothing", async () => {
  const { dir, marks } = await sweepOf(3);
  const store = await SweepStore.open(dir);
  await store.transact((tx) => tx.append("d", 1, { o: "t", w: tx.now }));
  store.close();
  const before = await snapshotFiles(dir);
  const result = await minion(dir, ["--dry-run", "echo", "run"]).output;
  assertEquals(result.code, 0, text(result.stderr));
  assertEquals(lines(text(result.stdout)), ["echo run 0", "echo run 2"]);
  assertEquals(await snapshotFiles(dir), before);
  assertEquals((await runs(marks)).size, 0);
});

Deno.test({
  name: "execo engine: a dry run on a Python execo sweep imports nothing",
  ignore: !python,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "execo-dry-" });
    await py(
      cwd,
      "from execo_engine.sweep import ParamSweeper; s = ParamSweeper('sweeps', sweeps=range(3), save_sweeps=True); s.done(s.get_next())",
    );
    const before = await snapshotFiles(`${cwd}/sweeps`);
    const result = await minion("sweeps", ["--dry-run", "echo"], {}, cwd)
      .output;
    assertEquals(result.code, 0, text(result.stderr));
    assertEquals(lines(text(result.stdout)).length, 2);
    assertEquals(await snapshotFiles(`${cwd}/sweeps`), before);
  },
});
