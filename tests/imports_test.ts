/**
 * The library travels without deno.json: its modules name npm packages in
 * full, so a project that imports mod.ts by path (or JSR) resolves them
 * with no import map of ours.
 */

import { assert, assertEquals } from "./_assert.ts";
import { ROOT, tempDir } from "./_cli.ts";

const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  imports: Record<string, string>;
  exports: Record<string, string>;
};

/** The TypeScript files of the library and the CLI (what is published). */
function* libraryFiles(dir = ""): Generator<string> {
  const top = ["mod.ts", "cli.ts"];
  const dirs = [
    "core",
    "engines",
    "callbacks",
    "reporters",
    "commands",
    "schedulers",
  ];
  if (dir === "") {
    yield* top;
    for (const d of dirs) yield* libraryFiles(d);
    return;
  }
  for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* libraryFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** Every specifier a file imports or re-exports, statically or not. */
function specifiers(text: string): string[] {
  const found = [];
  for (
    const match of text.matchAll(
      /(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)"([^"]+)"/gm,
    )
  ) {
    found.push(match[1]!);
  }
  return found;
}

Deno.test("library modules name every npm package in full, at the version deno.json pins", async () => {
  const pinned = new Map(
    Object.values(config.imports)
      .filter((target) => target.startsWith("npm:"))
      .map((target) => [target.replace(/@[^@/]+$/, ""), target]),
  );
  const wrong: string[] = [];
  let npm = 0;
  for (const file of libraryFiles()) {
    for (const specifier of specifiers(await Deno.readTextFile(ROOT + file))) {
      if (/^(\.\.?\/|node:)/.test(specifier)) continue;
      const match = /^(npm:(?:@[^/]+\/)?[^/@]+)@([^/]+)(\/.*)?$/.exec(
        specifier,
      );
      if (!match) {
        wrong.push(`${file}: '${specifier}' is not npm:NAME@VERSION`);
        continue;
      }
      npm++;
      const want = pinned.get(match[1]!);
      if (want !== `${match[1]}@${match[2]}`) {
        wrong.push(
          `${file}: '${specifier}', but deno.json's imports pin ${want}`,
        );
      }
    }
  }
  assertEquals(wrong, []);
  assert(npm > 10, `only ${npm} npm imports found: is the scan broken?`);
});

Deno.test("mod.ts and every export load and run from a project with no deno.json", async () => {
  const dir = await tempDir();
  try {
    await Deno.writeTextFile(`${dir}/params`, "1\n2\n3\n");
    const url = (path: string) => new URL(path, `file://${ROOT}`).href;
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { minionize } from ${JSON.stringify(url("mod.ts"))};
const exported = ${JSON.stringify(Object.values(config.exports).map(url))};
for (const module of exported) await import(module);
let sum = 0;
const summary = await minionize((param) => {
  sum += Number(param);
}, { env: { MINION_ENGINE: "file", FILE_PATH: "params" }, handleSignals: false });
console.log(exported.length, summary.done, sum);
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    assertEquals(
      [code, decoder.decode(stdout)],
      [0, `${Object.keys(config.exports).length} 3 6\n`],
      decoder.decode(stderr),
    );
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["main.ts", "params"],
      "nothing installed beside it",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
