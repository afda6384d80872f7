import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, cliCommand, eventually, runCli, tempDir } from "../_cli.ts";
import { available, CACHE, freePort } from "../services/harness.ts";

const hasTmux = available("tmux", "bash tests/services/install/base.sh");
const PYTHON = `${CACHE}/venv/bin/python`;
const hasExeco = available(PYTHON, "bash tests/services/install.sh execo");

/** Starts a minion reporting to `reports`, over its own params file. */
async function minion(
  dir: string,
  name: string,
  params: number,
  program: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Deno.ChildProcess> {
  const file = `${dir}/${name}.txt`;
  await Deno.writeTextFile(
    file,
    Array.from({ length: params }, (_, i) => `${name}-${i + 1}`).join("\n"),
  );
  const child = cliCommand(
    ["--engine", "file", ...extra, "sh", "-c", program],
    {
      env: {
        FILE_PATH: file,
        MINION_REPORTER: "json",
        REPORTER_JSON_DIRECTORY: `${dir}/reports`,
        MINION_HEARTBEAT: "0.5",
        ...env,
      },
      cwd: dir,
    },
  ).spawn();
  return child;
}

async function stop(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.output().catch(() => {});
  }
}

/**
 * A tmux server of the test's own, its socket in the test's directory, so
 * nobody else's sessions are touched and nothing is left behind.
 */
class Tmux {
  constructor(readonly socket: string) {}

  async run(...args: string[]): Promise<{ code: number; stdout: string }> {
    const { code, stdout } = await new Deno.Command("tmux", {
      args: ["-S", this.socket, ...args],
      stdout: "piped",
      stderr: "null",
    }).output();
    return { code, stdout: new TextDecoder().decode(stdout) };
  }

  async screen(): Promise<string> {
    return (await this.run("capture-pane", "-p", "-t", "top")).stdout;
  }

  /** Waits until the screen satisfies `check`; returns that screen. */
  async until(what: string, check: (screen: string) => boolean) {
    let screen = "";
    try {
      await eventually(
        what,
        async () => check(screen = await this.screen()),
        30_000,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${screen}`);
    }
    return screen;
  }
}

/** The data rows of a top screen, as lists of cells. */
function rows(screen: string): string[][] {
  const lines = screen.split("\n");
  const header = lines.findIndex((l) => l.startsWith("MINION"));
  const out: string[][] = [];
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === "") break;
    out.push(line.trim().split(/\s{2,}/));
  }
  return out;
}

Deno.test({
  name:
    "top shows three minions live in a terminal, sorts, filters, marks a killed one lost and quits on q",
  ignore: !hasTmux,
  async fn() {
    const dir = await tempDir();
    const children = [
      await minion(dir, "alpha", 500, "sleep 0.2"),
      await minion(dir, "beta", 500, "sleep 0.2; exit 1"),
      await minion(dir, "zeta7", 5, "sleep 60"),
    ];
    const [alpha, beta, zeta] = children;
    const tmux = new Tmux(`${dir}/tmux.sock`);
    try {
      await eventually("three minions to report", async () => {
        try {
          let started = 0;
          for await (const entry of Deno.readDir(`${dir}/reports`)) {
            const text = await Deno.readTextFile(
              `${dir}/reports/${entry.name}`,
            );
            if (text.includes('"param.started"')) started++;
          }
          return started === 3;
        } catch {
          return false;
        }
      }, 60_000);
      const command = [Deno.execPath(), "run", "-A", "--quiet", CLI, "top"]
        .concat(["--interval", "0.3", "--lost", "4", `${dir}/reports`])
        .map((word) => `'${word}'`).join(" ");
      const started = await tmux.run(
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        "-c",
        dir,
        command,
      );
      assertEquals(started.code, 0);
      let screen = await tmux.until(
        "three running minions on the screen",
        (s) =>
          rows(s).filter((r) => r[3] === "running").length === 3 &&
          // alpha has done some, beta has failed some: the sorts can tell.
          rows(s).some((r) =>
            r[2] === String(alpha!.pid) && Number(r[7]) > 0
          ) &&
          rows(s).some((r) => r[2] === String(beta!.pid) && Number(r[8]) > 0),
      );
      assertMatch(
        screen,
        /^minionize top {2}\d\d:\d\d:\d\dZ {2}3 minions: 3 running, 0 lost, 0 stopped/m,
      );
      assertMatch(
        screen,
        /^done \d+ {2}failed \d+ {2}in flight [1-3] {2}throughput \d+\.\d\d\/s/m,
      );
      assertMatch(
        screen,
        /^MINION +HOST +PID +STATE +SLOT +PARAM +AGE +DONE +FAILED +RATE\/s +LAST SEEN$/m,
      );
      assertMatch(screen, /q quit {2}s sort: minion {2}\/ filter/);
      const byPid = (pid: number) =>
        rows(screen).find((r) => r[2] === String(pid))!;
      assertEquals(byPid(zeta!.pid).slice(4, 6), ["1", "zeta7-1"]);
      assertMatch(byPid(zeta!.pid)[6]!, /^\d+:\d\d$/);

      await tmux.run("send-keys", "-t", "top", "s");
      screen = await tmux.until(
        "sorting by done",
        (s) => s.includes("s sort: done") && rows(s).length === 3,
      );
      assertEquals(rows(screen)[0]![2], String(alpha!.pid));
      await tmux.run("send-keys", "-t", "top", "s");
      screen = await tmux.until(
        "sorting by failed",
        (s) => s.includes("s sort: failed") && rows(s).length === 3,
      );
      assertEquals(rows(screen)[0]![2], String(beta!.pid));

      await tmux.run("send-keys", "-t", "top", "/", "zeta7");
      await tmux.until("the filter being typed", (s) => s.includes("/zeta7_"));
      await tmux.run("send-keys", "-t", "top", "Enter");
      screen = await tmux.until(
        "one row left by the filter",
        (s) => s.includes("(1 of 3 shown)") && rows(s).length === 1,
      );
      assertEquals(rows(screen)[0]![2], String(zeta!.pid));
      await tmux.run("send-keys", "-t", "top", "Escape");
      await tmux.until("the filter cleared", (s) => rows(s).length === 3);

      alpha!.kill("SIGKILL");
      await alpha!.output();
      screen = await tmux.until(
        "the killed minion to show lost",
        (s) => rows(s).find((r) => r[2] === String(alpha!.pid))?.[3] === "lost",
      );
      assertMatch(screen, /3 minions: 2 running, 1 lost, 0 stopped/);

      await tmux.run("send-keys", "-t", "top", "q");
      await eventually(
        "top to quit",
        async () => (await tmux.run("has-session", "-t", "top")).code !== 0,
      );
    } finally {
      await tmux.run("kill-server");
      await Deno.remove(tmux.socket).catch(() => {});
      await stop(children);
    }
  },
});

Deno.test("top --once prints totals and an ETA from stats endpoints and the queue's size", async () => {
  const dir = await tempDir();
  const port = freePort();
  // Param p-10 waits for the gate: the minion is caught with 9 done.
  const gate = `${dir}/go`;
  const child = await minion(
    dir,
    "p",
    40,
    `test "$0" != p-10 || while [ ! -e '${gate}' ]; do sleep 0.05; done`,
    ["--stats", String(port)],
    { MINION_REPORTER: "null" },
  );
  const dead = freePort();
  try {
    await eventually("the minion to finish some params", async () => {
      try {
        const stats = await (await fetch(`http://127.0.0.1:${port}/stats`))
          .json();
        return stats.done === 9 && stats.inFlight.length === 1;
      } catch {
        return false;
      }
    }, 60_000);
    const { code, stdout, stderr } = await runCli([
      "top",
      "--once",
      "--endpoint",
      `127.0.0.1:${port},http://127.0.0.1:${dead}/stats`,
    ], { cwd: dir, env: { MINION_ENGINE: "file", FILE_PATH: `${dir}/p.txt` } });
    assertEquals(code, 0, stderr);
    assertMatch(stdout, /2 minions: 1 running, 0 lost, 0 stopped/);
    assertMatch(
      stdout,
      /^done 9 {2}failed 0 {2}in flight 1 {2}throughput \d+\.\d\d\/s {2}left 31 of 40 {2}ETA \d+:\d\d\n/m,
    );
    assertMatch(stdout, /^\[[#-]+\] 9\/40 22%/m);
    const table = rows(stdout);
    assertEquals(table.length, 2);
    const live = table.find((r) => r[2] === String(child.pid))!;
    assertEquals(live[3], "running");
    assertEquals(live.slice(4, 6), ["1", "p-10"]);
    const unreachable = table.find((r) => r[3] === "unreachable")!;
    assertEquals(unreachable[0], `http://127.0.0.1:${dead}/stats`);
    assert(!stdout.includes("q quit"), "no key help in a snapshot");
  } finally {
    await Deno.writeTextFile(gate, "");
    await stop([child]);
  }
});

Deno.test("top without a terminal prints one snapshot of the reports directory", async () => {
  const dir = await tempDir();
  await Deno.mkdir(`${dir}/minion-report`);
  const old = new Date(Date.now() - 600_000).toISOString();
  await Deno.writeTextFile(
    `${dir}/minion-report/m.jsonl`,
    [
      { type: "minion.started", engine: "file", callback: "process" },
      { type: "param.started", seq: 1, param: "x", attempt: 1 },
    ].map((e) =>
      JSON.stringify({ time: old, minion: "m1", host: "h1", pid: 7, ...e })
    ).join("\n") + "\n",
  );
  const { code, stdout } = await runCli(["top"], { cwd: dir });
  assertEquals(code, 0);
  assertMatch(stdout, /1 minions: 0 running, 1 lost, 0 stopped/);
  assertEquals(rows(stdout), [[
    "m1",
    "h1",
    "7",
    "lost",
    "-",
    "x",
    "10:00",
    "0",
    "0",
    "0.00",
    "10:00 ago",
  ]]);
  const missing = await runCli(["top", "--wait", "0", "nowhere"], {
    cwd: dir,
  });
  assertEquals(missing.code, 2);
  assertMatch(
    missing.stderr,
    /^minionize: error: Cannot read reports in 'nowhere'/,
  );
});

Deno.test("top totals minions sharing an execo sweep from the sweep itself", async () => {
  const dir = await tempDir();
  const levels = Array.from({ length: 24 }, (_, i) => i + 1).join(",");
  const created = await runCli(
    ["sweep", "create", "--dir", `${dir}/sweep`, "--param", `i=${levels}`],
    { cwd: dir },
  );
  assertEquals(created.code, 0, created.stderr);
  const env = {
    EXECO_PERSISTENCE_DIR: `${dir}/sweep`,
    REPORTER_JSON_DIRECTORY: `${dir}/reports`,
  };
  // Every task waits for the gate: the minions are caught mid-sweep.
  const gate = `${dir}/go`;
  const children = [1, 2, 3].map(() =>
    cliCommand([
      "--engine",
      "execo",
      "--reporter",
      "json",
      "sh",
      "-c",
      `while [ ! -e '${gate}' ]; do sleep 0.05; done`,
    ], { env, cwd: dir }).spawn()
  );
  const snapshot = async () =>
    (await runCli(["top", "--once", `${dir}/reports`], { cwd: dir, env }))
      .stdout;
  try {
    let text = "";
    await eventually("three minions holding a param each", async () => {
      text = await snapshot();
      return text.includes("in flight 3");
    }, 60_000);
    assertMatch(text, /3 minions: 3 running, 0 lost, 0 stopped/);
    assertMatch(
      text,
      /^done 0 {2}failed 0 {2}in flight 3 {2}throughput 0\.00\/s {2}left 24 of 24 {2}ETA \?$/m,
    );
    await Deno.writeTextFile(gate, "");
    for (const child of children) assertEquals((await child.output()).code, 0);
    text = await snapshot();
    assertMatch(text, /3 minions: 0 running, 0 lost, 3 stopped/);
    assertMatch(
      text,
      /^done 24 {2}failed 0 {2}in flight 0 .* left 0 of 24 {2}ETA 0:00$/m,
    );
    assertMatch(text, /^\[#{40}\] 24\/24 100%/m);
  } finally {
    await Deno.writeTextFile(gate, "");
    await stop(children);
  }
});

Deno.test({
  name: "top counts a sweep written by Python execo without importing it",
  ignore: !hasExeco,
  async fn() {
    const dir = await tempDir();
    const made = await new Deno.Command(PYTHON, {
      args: [
        "-c",
        "from execo_engine.sweep import ParamSweeper\n" +
        "s = ParamSweeper('sweeps', sweeps=range(10), save_sweeps=True)\n" +
        "for _ in range(3): s.done(s.get_next())\n" +
        "s.get_next()\n",
      ],
      cwd: dir,
    }).output();
    assertEquals(made.code, 0, new TextDecoder().decode(made.stderr));
    const before = [...Deno.readDirSync(`${dir}/sweeps`)].map((e) => e.name)
      .sort();
    await Deno.mkdir(`${dir}/reports`);
    const { code, stdout } = await runCli(["top", "--once", "reports"], {
      cwd: dir,
    });
    assertEquals(code, 0);
    assertMatch(stdout, /left 7 of 10 {2}ETA \?/);
    assertMatch(stdout, /^\[#+-+\] 3\/10 30%/m);
    const after = [...Deno.readDirSync(`${dir}/sweeps`)].map((e) => e.name)
      .sort();
    assertEquals(after, before);
  },
});
