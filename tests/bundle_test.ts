import { assertEquals } from "./_assert.ts";
import { ROOT, tempDir } from "./_cli.ts";

Deno.test("the bundled single file runs a file-engine job from an empty directory", async () => {
  const build = await tempDir();
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "-o", `${build}/minionize.js`, `${ROOT}cli.ts`],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(bundled.code, 0, new TextDecoder().decode(bundled.stderr));
  const empty = await tempDir();
  await Deno.copyFile(`${build}/minionize.js`, `${empty}/minionize.js`);
  await Deno.writeTextFile(`${empty}/params`, "1\n2\n");
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "minionize.js", "echo", "hello"],
    cwd: empty,
    env: { MINION_ENGINE: "file", FILE_PATH: "params", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  assertEquals([
    run.code,
    decoder.decode(run.stdout),
    decoder.decode(run.stderr),
  ], [0, "hello 1\nhello 2\n", ""]);
  const entries = [...Deno.readDirSync(empty)].map((e) => e.name).sort();
  assertEquals(
    entries,
    ["minionize.js", "params"],
    "nothing may be installed next to it",
  );
});

Deno.test("deno.json's version is the one the CLI prints", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const { VERSION } = await import("../core/version.ts");
  assertEquals(config.version, VERSION);
});
