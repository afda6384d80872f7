/**
 * Side by side with the original Python minionize 0.3.4: the seed's
 * quickstart, word for word, run by the original and by ours.
 */

import { assertEquals } from "../_assert.ts";
import { runCli } from "../_cli.ts";
import { available, CACHE } from "../services/harness.ts";

const VENV = `${CACHE}/venv/bin`;
const ok = available(
  `${VENV}/minionize`,
  "bash tests/services/install.sh execo",
);

/** The quickstart's first step: Python execo writes the sweep. */
async function quickstartSweep(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-seed-" });
  const { code, stderr } = await new Deno.Command(`${VENV}/python`, {
    args: [
      "-c",
      "from execo_engine.sweep import ParamSweeper; ParamSweeper('sweeps', sweeps=range(10), save_sweeps=True)",
    ],
    cwd: dir,
    stderr: "piped",
  }).output();
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  return dir;
}

const lines = (text: string) =>
  text.split("\n").filter((line) => line !== "").sort();

Deno.test({
  name:
    "the seed's quickstart prints the same lines with the original and with ours",
  ignore: !ok,
  async fn() {
    const [theirs, ours] = [await quickstartSweep(), await quickstartSweep()];
    try {
      const original = await new Deno.Command(`${VENV}/minionize`, {
        args: ["echo", "hello"],
        cwd: theirs,
        env: { MINION_ENGINE: "execo" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(original.code, 0, new TextDecoder().decode(original.stderr));
      const mine = await runCli(["echo", "hello"], {
        cwd: ours,
        env: { MINION_ENGINE: "execo" },
      });
      assertEquals(mine.code, 0, mine.stderr);

      const expected = Array.from({ length: 10 }, (_, i) => `hello ${i}`)
        .sort();
      assertEquals(lines(new TextDecoder().decode(original.stdout)), expected);
      assertEquals(lines(mine.stdout), expected);
      assertEquals(mine.stderr, "", "ours says nothing else");

      // Run again, each finds nothing left to do.
      const again = await runCli(["echo", "hello"], {
        cwd: ours,
        env: { MINION_ENGINE: "execo" },
      });
      assertEquals([again.code, again.stdout], [0, ""]);
    } finally {
      await Deno.remove(theirs, { recursive: true });
      await Deno.remove(ours, { recursive: true });
    }
  },
});
