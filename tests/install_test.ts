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

/**
 * How this machine reaches the network (certificates, proxies): kept when a
 * test clears the environment, since they are not the user's settings.
 */
const NETWORK = Object.fromEntries(
  Object.entries(Deno.env.toObject()).filter(([name]) =>
    /^(SSL_CERT_(FILE|DIR)|DENO_CERT|DENO_TLS_CA_STORE|NODE_EXTRA_CA_CERTS|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/
      .test(name)
  ),
);

async function run(
  command: string,
  args: string[],
  options: {
    cwd: string;
    env?: Record<string, string>;
    stdin?: string;
    clearEnv?: boolean;
  },
): Promise<Output> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    clearEnv: options.clearEnv ?? false,
    env: {
      NO_COLOR: "1",
      ...(options.clearEnv ? NETWORK : {}),
      ...options.env,
    },
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

Deno.test("deno task install, from a fresh clone in an empty HOME, puts minionize on PATH, and its first run elsewhere prints only the seed's example", async () => {
  const dir = await tempDir();
  try {
    const clone = await freshClone(dir);
    const home = `${dir}/home`;
    const work = `${dir}/work`;
    await Deno.mkdir(home);
    await Deno.mkdir(work);
    const denoDir = Deno.execPath().replace(/\/[^/]*$/, "");
    // Nothing of this machine's: no DENO_DIR, so Deno's cache starts empty
    // under the new HOME and the install fetches every package itself.
    const env = { HOME: home, PATH: `${denoDir}:/usr/bin:/bin` };
    const installed = await run(Deno.execPath(), ["task", "install"], {
      cwd: clone,
      env,
      clearEnv: true,
    });
    const bin = `${home}/.deno/bin`;
    assertEquals(installed.code, 0, installed.stderr);
    assertEquals(
      installed.stdout.split("\n").filter((l) => l.startsWith("installed ")),
      [
        `installed ${bin}/minionize (minionize ${
          (await import("../core/version.ts")).VERSION
        }, running ${clone}/cli.ts)`,
      ],
    );
    // The install step fetches every package (Deno says which); it must
    // not warn or set up anything else.
    assertEquals(
      installed.stderr.split("\n").filter((l) =>
        l && !/^Task install /.test(l) && !/^Download https:\/\//.test(l)
      ),
      [],
    );

    const path = `${bin}:${env.PATH}`;
    const minionize = (
      args: string[],
      extra: Record<string, string> = {},
      stdin?: string,
    ) =>
      run(`${bin}/minionize`, args, {
        cwd: work,
        env: { HOME: home, PATH: path, ...extra },
        clearEnv: true,
        ...(stdin === undefined ? {} : { stdin }),
      });
    const created = await minionize(
      ["sweep", "create"],
      {},
      "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n",
    );
    assertEquals([created.code, created.stderr], [0, ""]);
    const ran = await minionize(["echo", "hello"], { MINION_ENGINE: "execo" });
    assertEquals(
      [ran.code, ran.stdout.split("\n").filter((l) => l).sort(), ran.stderr],
      [0, Array.from({ length: 10 }, (_, i) => `hello ${i}`), ""],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task pack writes a directory that runs the seed's example on a node with no Deno, no network and an empty HOME", async () => {
  const dir = await tempDir();
  try {
    const clone = await freshClone(dir);
    const packed = await run(Deno.execPath(), ["task", "pack", `${dir}/node`], {
      cwd: clone,
    });
    assertEquals(packed.code, 0, packed.stderr);
    assertEquals(
      [...Deno.readDirSync(`${dir}/node`)].map((e) => e.name).sort(),
      ["deno", "minionize", "minionize.js"],
    );
    // The node: a PATH with the program to run and what the wrapper uses,
    // but no deno; a proxy that answers nothing, should anything try.
    const tools = `${dir}/tools`;
    await Deno.mkdir(tools);
    for (const tool of ["echo", "readlink", "dirname"]) {
      await Deno.symlink(
        ["/usr/bin", "/bin"].map((d) => `${d}/${tool}`).find((p) => {
          try {
            return Deno.statSync(p).isFile;
          } catch {
            return false;
          }
        })!,
        `${tools}/${tool}`,
      );
    }
    const home = `${dir}/home`;
    const work = `${dir}/work`;
    await Deno.mkdir(home);
    await Deno.mkdir(work);
    // On PATH through a symlink, as a user would put it in ~/bin.
    await Deno.symlink(`${dir}/node/minionize`, `${tools}/minionize`);
    const env = {
      HOME: home,
      PATH: tools,
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
    };
    const created = await run(`${tools}/minionize`, ["sweep", "create"], {
      cwd: work,
      env,
      clearEnv: true,
      stdin: "0\n1\n2\n",
    });
    assertEquals([created.code, created.stderr], [0, ""]);
    const ran = await run(`${tools}/minionize`, ["echo", "hello"], {
      cwd: work,
      env: { ...env, MINION_ENGINE: "execo" },
      clearEnv: true,
    });
    assertEquals(
      [ran.code, ran.stdout.split("\n").filter((l) => l).sort(), ran.stderr],
      [0, ["hello 0", "hello 1", "hello 2"], ""],
    );
    let fetched: string[] = [];
    try {
      fetched = [...Deno.readDirSync(`${home}/.cache/deno/npm`)]
        .map((e) => e.name);
    } catch {
      // Deno made no npm cache at all.
    }
    assertEquals(fetched, [], "no npm package fetched");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
