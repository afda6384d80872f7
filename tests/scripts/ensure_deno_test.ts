/**
 * scripts/ensure_deno.sh with stand-ins for `npm` and for a user's Deno of
 * another version: it must never touch the user's, and install the pinned
 * one into its own directory only when no 2.9.6 is at hand.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { ROOT, tempDir } from "../_cli.ts";

const decoder = new TextDecoder();
const SCRIPT = `${ROOT}scripts/ensure_deno.sh`;

interface Sandbox {
  dir: string;
  /** Directories searched for programs, first first. */
  path: string[];
  /** Where the script installs its own Deno. */
  home: string;
  /** The command lines the stand-in npm was run with. */
  npmCalls(): Promise<string[]>;
}

/**
 * A PATH holding only the tools the script uses, a stand-in `npm` that
 * "installs" by linking this test's own Deno where the npm package puts its
 * binary, and, when `userDeno` is given, a `deno` of that version first.
 */
async function sandbox(userDeno?: string): Promise<Sandbox> {
  const dir = await tempDir();
  const tools = `${dir}/tools`;
  await Deno.mkdir(tools);
  for (const tool of ["grep", "dirname", "mkdir"]) {
    const found = ["/usr/bin", "/bin"].map((d) => `${d}/${tool}`)
      .find((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      });
    await Deno.symlink(found!, `${tools}/${tool}`);
  }
  const log = `${dir}/npm-calls`;
  await Deno.writeTextFile(
    `${tools}/npm`,
    `#!/bin/bash
echo "$*" >> "${log}"
prefix=""
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--prefix" ]; then prefix="$2"; fi
  shift
done
[ -n "$prefix" ] || exit 1
mkdir -p "$prefix/node_modules/deno"
/bin/ln -s "${Deno.execPath()}" "$prefix/node_modules/deno/deno"
`,
  );
  await Deno.chmod(`${tools}/npm`, 0o755);
  const path = [tools];
  if (userDeno) {
    const user = `${dir}/user-bin`;
    await Deno.mkdir(user);
    await Deno.writeTextFile(
      `${user}/deno`,
      `#!/bin/bash\necho "deno ${userDeno} (stable, release, x86_64-unknown-linux-gnu)"\n`,
    );
    await Deno.chmod(`${user}/deno`, 0o755);
    path.unshift(user);
  }
  return {
    dir,
    path,
    home: `${dir}/own-deno`,
    npmCalls: async () =>
      (await Deno.readTextFile(log).catch(() => "")).split("\n")
        .filter((line) => line),
  };
}

async function ensure(box: Sandbox): Promise<{
  code: number;
  stdout: string;
  stderr: string;
}> {
  const output = await new Deno.Command("/bin/bash", {
    args: [SCRIPT],
    clearEnv: true,
    env: {
      PATH: box.path.join(":"),
      HOME: box.dir,
      MINIONIZE_DENO_HOME: box.home,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("ensure_deno.sh uses a deno 2.9.6 on PATH as it is", async () => {
  const box = await sandbox();
  try {
    const bin = `${box.dir}/user-bin`;
    await Deno.mkdir(bin);
    await Deno.symlink(Deno.execPath(), `${bin}/deno`);
    box.path.unshift(bin);
    const result = await ensure(box);
    assertEquals([result.code, result.stdout], [0, `${bin}/deno\n`]);
    assertEquals(await box.npmCalls(), []);
  } finally {
    await Deno.remove(box.dir, { recursive: true });
  }
});

Deno.test("ensure_deno.sh leaves a user's other Deno alone and installs its own, once", async () => {
  const box = await sandbox("1.46.3");
  try {
    const user = `${box.dir}/user-bin/deno`;
    const before = await Deno.readTextFile(user);
    const first = await ensure(box);
    assertEquals(
      [first.code, first.stdout],
      [0, `${box.home}/node_modules/deno/deno\n`],
      first.stderr,
    );
    assertMatch(
      first.stderr,
      /deno on PATH is not 2\.9\.6: .*yours is left alone/,
    );
    const calls = await box.npmCalls();
    assertEquals(calls.length, 1);
    assert(calls[0]!.includes(`--prefix ${box.home}`), calls[0]!);
    assert(calls[0]!.includes("deno@2.9.6"), calls[0]!);
    assert(!/(^| )(-g|--global)( |$)/.test(calls[0]!), calls[0]!);
    assertEquals(await Deno.readTextFile(user), before, "the user's deno");

    const second = await ensure(box);
    assertEquals([second.code, second.stdout], [0, first.stdout]);
    assertEquals((await box.npmCalls()).length, 1, "installed once");
  } finally {
    await Deno.remove(box.dir, { recursive: true });
  }
});

Deno.test("ensure_deno.sh installs its own Deno where there is none", async () => {
  const box = await sandbox();
  try {
    const result = await ensure(box);
    assertEquals(
      [result.code, result.stdout],
      [0, `${box.home}/node_modules/deno/deno\n`],
      result.stderr,
    );
    assertMatch(result.stderr, /no deno on PATH/);
  } finally {
    await Deno.remove(box.dir, { recursive: true });
  }
});
