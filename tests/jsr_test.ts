/**
 * Ready for JSR: `deno publish --dry-run` passes and would publish the
 * library and the CLI only, and mod.ts is also the command, as
 * `deno run -A jsr:@minionize/cli` runs it.
 */

import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { ROOT } from "./_cli.ts";

const decoder = new TextDecoder();

Deno.test("deno publish --dry-run passes with only the library, the CLI and their docs", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(stderr);
  assertEquals(code, 0, text);
  const files = [...text.matchAll(/^\s+(file:\/\/\S+)/gm)]
    .map((m) => new URL(m[1]!).pathname.slice(ROOT.length));
  assert(files.includes("LICENSE"), "an OSI license file");
  assert(files.includes("mod.ts") && files.includes("cli.ts"));
  const tops = [...new Set(files.map((f) => f.split("/")[0]!))].sort();
  assertEquals(tops, [
    "LICENSE",
    "README.md",
    "callbacks",
    "cli.ts",
    "commands",
    "core",
    "deno.json",
    "docs",
    "engines",
    "mod.ts",
    "reporters",
    "runner",
    "schedulers",
  ]);
});

Deno.test("deno run mod.ts is the minionize command", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${ROOT}mod.ts`, "--help"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assertEquals(code, 0);
  assertMatch(decoder.decode(stdout), /^Usage: minionize \[OPTIONS\]/);
});

Deno.test("deno.json exports the command as ./cli, beside the library", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assertEquals([config.exports["."], config.exports["./cli"]], [
    "./mod.ts",
    "./cli.ts",
  ]);
});
