// The documented entrypoint image (examples/Containerfile), built here from
// local files only: the bundled CLI, this Deno binary, and a base holding the
// glibc it needs (no registry is reachable).

import { assertEquals } from "../_assert.ts";
import { buildBundle } from "../_bundle.ts";
import { ROOT, waitUntil } from "../services/harness.ts";
import {
  glibcBaseImage,
  podman,
  podmanAvailable,
  podmanOk,
  pruneTestImages,
  RUN_OPTS,
  TEST_IMAGE_LABEL,
} from "../services/podman.ts";

const ok = podmanAvailable();
const IMAGE = "localhost/minionize-test-entrypoint:latest";
const LABEL = "minionize.test=entrypoint";

let built: Promise<string> | undefined;

function entrypointImage(): Promise<string> {
  built ??= (async () => {
    const context = await Deno.makeTempDir({ prefix: "minionize-image-" });
    try {
      await buildBundle(`${context}/minionize.js`);
      await Deno.copyFile(Deno.execPath(), `${context}/deno`);
      await Deno.chmod(`${context}/deno`, 0o755);
      const base = await glibcBaseImage(Deno.execPath());
      await podmanOk([
        "build",
        "--quiet",
        "-f",
        `${ROOT}examples/Containerfile`,
        "--build-arg",
        `BASE=${base}`,
        "--label",
        TEST_IMAGE_LABEL,
        "-t",
        IMAGE,
        context,
      ]);
      await pruneTestImages();
      return IMAGE;
    } finally {
      await Deno.remove(context, { recursive: true });
    }
  })();
  return built;
}

async function withQueueDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-queue-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
    const left = (await podmanOk([
      "ps",
      "-aq",
      "--filter",
      `label=${LABEL}`,
    ])).trim();
    if (left) await podman(["rm", "-f", ...left.split("\n")]);
  }
}

function runArgs(dir: string, env: Record<string, string>): string[] {
  return [
    "run",
    "--rm",
    "--label",
    LABEL,
    ...RUN_OPTS.split(" "),
    "-v",
    `${dir}:/queue`,
    ...Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]),
  ];
}

Deno.test({
  name: "the entrypoint image is a minion that drains a mounted file queue",
  ignore: !ok,
  async fn() {
    const image = await entrypointImage();
    await withQueueDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/params.txt`, "one\ntwo words\nthree\n");
      const out = await podman([
        ...runArgs(dir, {
          MINION_ENGINE: "file",
          FILE_PATH: "/queue/params.txt",
          MINION_REPORTER: "stdout",
        }),
        image,
        "sh",
        "-c",
        'echo "$MINION_PARAM $#" >> /queue/out.txt',
        "sh",
      ]);
      assertEquals(out.code, 0, `podman run: ${out.stderr}`);
      assertEquals(
        await Deno.readTextFile(`${dir}/out.txt`),
        '"one" 1\n"two words" 2\n"three" 1\n',
      );
      assertEquals(
        out.stdout.split("\n").filter((line) => line.startsWith("done\t"))
          .length,
        3,
        `report: ${out.stdout}`,
      );
    });
  },
});

Deno.test({
  name:
    "the entrypoint image runs its default command and stops on podman stop",
  ignore: !ok,
  async fn() {
    const image = await entrypointImage();
    await withQueueDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/params.txt`, "hello\n");
      // CMD is `echo`: the param is appended to it.
      const echo = await podman([
        ...runArgs(dir, {
          MINION_ENGINE: "file",
          FILE_PATH: "/queue/params.txt",
        }),
        image,
      ]);
      assertEquals([echo.code, echo.stdout], [0, "hello\n"], echo.stderr);

      // The minion is PID 1: it must hear SIGTERM itself and leave with 143
      // (a kill after the stop timeout would give 137).
      await Deno.writeTextFile(`${dir}/params.txt`, "600\n");
      const name = `minionize-entrypoint-${Deno.pid}`;
      const run = podman([
        ...runArgs(dir, {
          MINION_ENGINE: "file",
          FILE_PATH: "/queue/params.txt",
        }),
        "--name",
        name,
        image,
        "sleep",
      ]);
      await waitUntil("the sleeping minion", async () => {
        const top = await podman(["top", name, "args"]);
        return top.code === 0 && /sleep 600/.test(top.stdout);
      }, 60_000);
      await podmanOk(["stop", "-t", "60", name]);
      const stopped = await run;
      assertEquals(stopped.code, 143, `podman run: ${stopped.stderr}`);
    });
  },
});

Deno.test({
  name: "two entrypoint containers drain one execo sweep mounted into both",
  ignore: !ok,
  async fn() {
    const image = await entrypointImage();
    await withQueueDir(async (dir) => {
      const params = Array.from({ length: 12 }, (_, i) => String(i + 1));
      const create = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}cli.ts`,
          "sweep",
          "create",
          "--dir",
          `${dir}/sweep`,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = create.stdin.getWriter();
      await writer.write(new TextEncoder().encode(params.join("\n") + "\n"));
      await writer.close();
      const created = await create.output();
      assertEquals(created.code, 0, new TextDecoder().decode(created.stderr));
      await Deno.mkdir(`${dir}/out`);
      const minion = (n: number) =>
        podman([
          ...runArgs(dir, {
            MINION_ENGINE: "execo",
            EXECO_PERSISTENCE_DIR: "/queue/sweep",
          }),
          image,
          "sh",
          "-c",
          `echo "$MINION_PARAM" >> /queue/out/minion-${n}; sleep 0.2`,
          "sh",
        ]);
      const results = await Promise.all([minion(1), minion(2)]);
      for (const result of results) {
        assertEquals(result.code, 0, `podman run: ${result.stderr}`);
      }
      const seen: string[] = [];
      for (const entry of Deno.readDirSync(`${dir}/out`)) {
        seen.push(
          ...(await Deno.readTextFile(`${dir}/out/${entry.name}`)).trim()
            .split("\n"),
        );
      }
      assertEquals(
        seen.map(Number).sort((a, b) => a - b),
        params.map(Number),
        "every param ran exactly once",
      );
      const done = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}cli.ts`,
          "sweep",
          "list",
          "--done",
          "--dir",
          `${dir}/sweep`,
        ],
        stdout: "piped",
      }).output();
      assertEquals(
        new TextDecoder().decode(done.stdout).trim().split("\n").map(Number)
          .sort((a, b) => a - b),
        params.map(Number),
        "the sweep records every param done",
      );
    });
  },
});
