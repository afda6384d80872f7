/**
 * From a clone to a command on PATH, as a new user would: a copy of the
 * working tree (what `git clone` would give), an empty HOME, an empty
 * directory to work in.
 */

import { assertEquals } from "./_assert.ts";
import { ROOT, tempDir } from "./_cli.ts";

const decoder = new TextDecoder();

/** A copy of the files git tracks (or would), as a fresh clone has them. */
async function freshClone(into: string): Promise<string> {
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  const clone = `${into}/clone`;
  for (const path of decoder.decode(listed.stdout).split("\0")) {
    if (path === "") continue;
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(ROOT + path);
    } catch {
      continue; // deleted in the working tree
    }
    if (!info.isFile) continue;
    const target = `${clone}/${path}`;
    await Deno.mkdir(target.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(ROOT + path, target);
    if (info.mode) await Deno.chmod(target, info.mode & 0o777);
  }
  return clone;
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<Output> {
  const child = new Deno.Command(command, {
    args,
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

Deno.test("a fresh clone's first run prints only what the command prints, and installs nothing into the clone", async () => {
  const dir = await tempDir();
  try {
    const clone = await freshClone(dir);
    const deno = Deno.execPath();
    assertEquals(
      await run(deno, ["run", "-A", "cli.ts", "--version"], { cwd: clone }),
      {
        code: 0,
        stdout: `minionize ${(await import("../core/version.ts")).VERSION}\n`,
        stderr: "",
      },
    );
    assertEquals(
      await run(deno, ["run", "-A", "cli.ts", "echo", "hello"], {
        cwd: clone,
        env: { MINION_ENGINE: "file" },
        stdin: "1\n",
      }),
      { code: 0, stdout: "hello 1\n", stderr: "" },
    );
    const created = [...Deno.readDirSync(clone)].map((e) => e.name)
      .filter((name) => ["node_modules", "vendor"].includes(name));
    assertEquals(created, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
