import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { CLI, runCli, tempDir } from "../_cli.ts";
import { available } from "../services/harness.ts";
import { formatDuration, renderBar } from "../../runner/bar.ts";

/** The escape that clears the rest of the line. */
const CLEAR = "\x1b[K";

const hasScript = available("script", "apt-get install -y bsdutils");

/** Runs `command` under a pseudo-terminal and returns what it drew. */
async function inTerminal(command: string, cwd: string): Promise<string> {
  const { code, stdout } = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assertEquals(code, 0, text);
  return text;
}

Deno.test({
  name: "--bar draws progress with rate and ETA up to 100% on a terminal",
  ignore: !hasScript,
  async fn() {
    const dir = await tempDir();
    await Deno.writeTextFile(`${dir}/params.txt`, "1\n2\n\n3\n4\n5\n6\n");
    const text = await inTerminal(
      `FILE_PATH=params.txt '${Deno.execPath()}' run -A --quiet '${CLI}' ` +
        `--engine file --bar -j 2 sh -c 'sleep 0.3' >/dev/null`,
      dir,
    );
    const frames = text.split("\r").map((f) =>
      f.replaceAll(CLEAR, "").replaceAll("\n", "")
    )
      .filter((f) => f.startsWith("["));
    assert(frames.length >= 2, `frames drawn: ${JSON.stringify(text)}`);
    for (const frame of frames) {
      assertMatch(
        frame,
        /^\[[#-]+\] [0-6]\/6 \d+% \d+\.\d+\/s ETA (\?|\d+:\d\d)$/,
      );
    }
    assertMatch(frames.at(-1)!, /^\[#+\] 6\/6 100% .* ETA 0:00$/);
    assert(text.endsWith("\n"), "the bar's line is ended at exit");
  },
});

Deno.test({
  name: "--bar counts a shared-filesystem sweep from its size",
  ignore: !hasScript,
  async fn() {
    const dir = await tempDir();
    const created = await runCli(
      ["sweep", "create", "--dir", "sweep", "--param", "i=1,2,3,4,5"],
      { cwd: dir },
    );
    assertEquals(created.code, 0, created.stderr);
    const text = await inTerminal(
      `EXECO_PERSISTENCE_DIR=sweep '${Deno.execPath()}' run -A --quiet '${CLI}' ` +
        `--engine execo --bar -j 2 sh -c 'sleep 0.3' >/dev/null`,
      dir,
    );
    const frames = text.split("\r").map((f) =>
      f.replaceAll(CLEAR, "").replaceAll("\n", "")
    ).filter((f) => f.startsWith("["));
    assertMatch(frames.at(-1)!, /^\[#+\] 5\/5 100% .* ETA 0:00$/);
  },
});

Deno.test({
  name: "--bar without a known total shows counts and rate, no bar",
  ignore: !hasScript,
  async fn() {
    const dir = await tempDir();
    const text = await inTerminal(
      `printf 'a\\nb\\n' | '${Deno.execPath()}' run -A --quiet '${CLI}' ` +
        `--engine file --bar true`,
      dir,
    );
    assertMatch(text, /\r2 done {2}\d+\.\d+\/s/);
    assert(!text.replaceAll(CLEAR, "").includes("["), text);
  },
});

Deno.test("--bar draws nothing when stderr is not a terminal", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params.txt`, "1\n2\n");
  const { code, stderr } = await runCli(["--bar", "--engine", "file", "true"], {
    env: { FILE_PATH: `${dir}/params.txt` },
  });
  assertEquals([code, stderr], [0, ""]);
});

Deno.test("a bar frame fits the width and says the ETA", () => {
  assertEquals(
    renderBar(5, 10, 2.5, 80),
    `[${"#".repeat(20)}${"-".repeat(20)}] 5/10 50% 2.50/s ETA 0:02`,
  );
  assertEquals(renderBar(3, 10, 0, 80).endsWith("ETA ?"), true);
  assertEquals(renderBar(12, 10, 1, 80).includes(" 10/10 100% "), true);
  assert(renderBar(5, 1000, 2, 30).length <= 30);
  assertEquals(formatDuration(3725), "1:02:05");
  assertEquals(formatDuration(59.6), "1:00");
});
