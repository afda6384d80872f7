import {
  ContainerCallback,
  MINION_LABEL,
  readContainerOptions,
} from "../../callbacks/container.ts";
import { ConfigError } from "../../core/errors.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
} from "../_assert.ts";
import { cliCommand, runCli } from "../_cli.ts";
import { waitUntil } from "../services/harness.ts";
import {
  busyboxImage,
  containersLabelled,
  podman,
  podmanAvailable,
  RUN_OPTS,
  RUNTIME_OPTS,
} from "../services/podman.ts";

const task = { minionId: "node-1-42-ab12", seq: 3, attempt: 2 };

Deno.test("container callback builds a podman run line with the param appended and MINION_* in the environment", () => {
  const callback = new ContainerCallback("img:1", ["prog", "--x"], {
    runtime: "podman",
    runtimeCommand: "/usr/bin/podman",
    runtimeOptions: ["--runtime", "/usr/sbin/runc"],
    runOptions: ["-v", "/data:/data"],
  });
  const command = callback.runCommand("a 'b c'", task);
  const name = callback.containerName("a 'b c'", task);
  assertEquals(command.program, "/usr/bin/podman");
  assertEquals(command.env, {});
  assertEquals(command.name, name);
  assertEquals(command.args, [
    "--runtime",
    "/usr/sbin/runc",
    "run",
    "--rm",
    "--name",
    name,
    "--label",
    `${MINION_LABEL}=node-1-42-ab12`,
    "-e",
    "MINION_PARAM=\"a 'b c'\"",
    "-e",
    "MINION_ID=node-1-42-ab12",
    "-e",
    "MINION_ATTEMPT=2",
    "-v",
    "/data:/data",
    "img:1",
    "prog",
    "--x",
    "a",
    "b c",
  ]);
});

Deno.test("container callback speaks docker's dialect with the same line", () => {
  const callback = new ContainerCallback("img", ["echo", "{name}"], {
    runtime: "docker",
  });
  const { program, args } = callback.runCommand({ name: "x;y" }, task);
  assertEquals(program, "docker");
  assertEquals(args.slice(0, 3), ["run", "--rm", "--name"]);
  assertEquals(args.slice(-3), ["img", "echo", "x;y"]);
  assert(
    args.includes('MINION_PARAM={"name":"x;y"}'),
    `no MINION_PARAM in ${args}`,
  );
});

Deno.test("container callback runs apptainer exec with a clean environment and prefixed variables", () => {
  const callback = new ContainerCallback("sim.sif", ["sim", "{}"], {
    runtime: "apptainer",
    runOptions: ["--bind", "/scratch"],
  });
  const param = { a: 1, b: [2, 3] };
  const command = callback.runCommand(param, task);
  assertEquals(command.program, "apptainer");
  assertEquals(command.name, undefined);
  assertEquals(command.args, [
    "exec",
    "--cleanenv",
    "--bind",
    "/scratch",
    "sim.sif",
    "sim",
    '{"a":1,"b":[2,3]}',
  ]);
  // Commas would split an `--env` value: the values travel in the
  // environment of the apptainer process instead.
  assertEquals(command.env, {
    APPTAINERENV_MINION_PARAM: '{"a":1,"b":[2,3]}',
    APPTAINERENV_MINION_ID: "node-1-42-ab12",
    APPTAINERENV_MINION_ATTEMPT: "2",
  });
  // Without a command, the param goes to the image's runscript.
  const singularity = new ContainerCallback("sim.sif", [], {
    runtime: "singularity",
    runtimeOptions: ["--quiet"],
  }).runCommand("x 1", task);
  assertEquals(singularity.args, [
    "--quiet",
    "run",
    "--cleanenv",
    "sim.sif",
    "x",
    "1",
  ]);
  assertEquals(Object.keys(singularity.env)[0], "SINGULARITYENV_MINION_PARAM");
});

Deno.test("container callback appends the param to the image's command when given none", () => {
  const callback = new ContainerCallback("img", []);
  assertEquals(callback.toArgs("--size 3"), ["--size", "3"]);
  const shell = new ContainerCallback("img", ["echo {}"], { shell: true });
  assertEquals(shell.toArgs("a b"), ["sh", "-c", 'echo "${1}"', "sh", "a b"]);
});

Deno.test("container names are sanitised and differ by param and attempt", () => {
  const callback = new ContainerCallback("img", []);
  const odd = { minionId: "héllo wörld/x:1", seq: 1, attempt: 1 };
  const names = [
    callback.containerName("a", odd),
    callback.containerName("b", odd),
    callback.containerName("a", { ...odd, attempt: 2 }),
    callback.containerName("a", { ...odd, seq: 2 }),
  ];
  for (const name of names) {
    assert(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name), `bad name ${name}`);
    assert(name.length <= 128, `name too long: ${name}`);
  }
  assertEquals(new Set(names).size, names.length, "distinct names");
  assertEquals(
    callback.containerName({ x: 1, y: 2 }, odd),
    callback.containerName({ y: 2, x: 1 }, odd),
    "same param, same name",
  );
});

Deno.test("container settings reject an unknown runtime and a missing one", async () => {
  const empty = await Deno.makeTempDir();
  try {
    for (
      const env of [
        { MINION_CONTAINER_RUNTIME: "rkt", PATH: empty },
        { MINION_CONTAINER_RUNTIME: "docker", PATH: empty },
        { PATH: empty },
        { PATH: "/bin", MINION_CONTAINER_OPTS: "-v 'unclosed" },
      ]
    ) {
      await assertRejects(
        () => readContainerOptions(env),
        ConfigError,
        /MINION_CONTAINER_(RUNTIME|OPTS)/,
      );
    }
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("container settings split option variables by shell rules and find the runtime", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/docker`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/docker`, 0o755);
    const options = await readContainerOptions({
      PATH: dir,
      MINION_CONTAINER_OPTS: "-v '/a b:/data' --network none",
      MINION_CONTAINER_RUNTIME_OPTS: "--log-level=debug",
    });
    assertEquals(options.runtime, "docker");
    assertEquals(options.runtimeCommand, `${dir}/docker`);
    assertEquals(options.runOptions, [
      "-v",
      "/a b:/data",
      "--network",
      "none",
    ]);
    assertEquals(options.runtimeOptions, ["--log-level=debug"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("minionize --container fails before taking anything when no runtime is installed", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const result = await runCli(["--container", "img", "echo"], {
      env: { MINION_ENGINE: "file", PATH: empty },
      stdin: "a\n",
    });
    assertEquals(result.code, 2);
    assertEquals(result.stdout, "");
    assertMatch(
      result.stderr,
      /^minionize: error: Cannot run containers: none of podman, docker, apptainer, singularity is on PATH;[^\n]*\n$/,
    );
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("minionize --container --dry-run prints each param's runtime command", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/docker`, "#!/bin/sh\nexit 99\n");
    await Deno.chmod(`${dir}/docker`, 0o755);
    const result = await runCli([
      "--dry-run",
      "--container-opt=-v",
      "--container-opt=/a b:/data",
      "--container",
      "img",
      "echo",
      "{}",
    ], {
      env: { MINION_ENGINE: "file", PATH: dir },
      stdin: "x y\n",
    });
    assertEquals(result.code, 0, result.stderr);
    assertMatch(
      result.stdout,
      /^\S+\/docker run --rm --name minion-dry-run-0-1-[0-9a-f]{8} --label minionize\.minion=dry-run -e 'MINION_PARAM="x y"' -e MINION_ID=dry-run -e MINION_ATTEMPT=1 -e MINION_SLOT=1 -v '\/a b:\/data' img echo 'x y'\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// End to end, through the CLI, the file engine and a real podman.

const ok = podmanAvailable();

interface Minion {
  child: Deno.ChildProcess;
  output: Promise<{ code: number; stdout: string; stderr: string }>;
}

function startMinion(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Minion {
  const child = cliCommand(args, {
    env: {
      MINION_ENGINE: "file",
      MINION_CONTAINER_RUNTIME: "podman",
      MINION_CONTAINER_RUNTIME_OPTS: RUNTIME_OPTS,
      MINION_CONTAINER_OPTS: RUN_OPTS,
      ...env,
    },
    cwd,
  }).spawn();
  const decoder = new TextDecoder();
  const output = child.output().then((out) => ({
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  }));
  return { child, output };
}

async function withQueue(
  lines: string[],
  body: (dir: string, queue: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-container-" });
  try {
    await Deno.writeTextFile(`${dir}/params.txt`, lines.join("\n") + "\n");
    await body(dir, `${dir}/params.txt`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertNoContainers(): Promise<void> {
  const left = await containersLabelled(MINION_LABEL);
  // Leftovers would fail every later test too: remove them, then fail.
  if (left.length > 0) await podman(["rm", "-f", ...left]);
  assertEquals(left, [], "containers left behind");
}

Deno.test({
  name: "a container gets each param as arguments and in MINION_PARAM",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["alpha 'b c'", "7"], async (dir, queue) => {
      const minion = startMinion(
        [
          "--container",
          image,
          "sh",
          "-c",
          'echo "n=$# 1=$1 2=$2 param=$MINION_PARAM attempt=$MINION_ATTEMPT id=${MINION_ID:+set}"',
          "sh",
        ],
        { FILE_PATH: queue },
        dir,
      );
      const { code, stdout, stderr } = await minion.output;
      assertEquals(code, 0, `exit status (stderr: ${stderr})`);
      assertEquals(stdout.trim().split("\n"), [
        `n=2 1=alpha 2=b c param="alpha 'b c'" attempt=1 id=set`,
        `n=1 1=7 2= param="7" attempt=1 id=set`,
      ], "container output");
      await assertNoContainers();
    });
  },
});

Deno.test({
  name:
    "a container's exit code fails its param, and runtime options reach podman",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["0", "3"], async (dir, queue) => {
      const minion = startMinion(
        [
          "--reporter",
          "json",
          "--container-opt=-e",
          "--container-opt=GREETING=hi there",
          "--container",
          image,
          "sh",
          "-c",
          'echo "$GREETING $1"; exit "$1"',
          "sh",
        ],
        { FILE_PATH: queue, REPORTER_JSON_DIRECTORY: `${dir}/report` },
        dir,
      );
      const { code, stdout, stderr } = await minion.output;
      assertEquals(code, 1, `exit status (stderr: ${stderr})`);
      assertEquals(stdout.trim().split("\n"), ["hi there 0", "hi there 3"]);
      const [report] = [...Deno.readDirSync(`${dir}/report`)];
      const events = (await Deno.readTextFile(`${dir}/report/${report!.name}`))
        .trim().split("\n").map((line) => JSON.parse(line));
      const finished = events.filter((e) => e.type === "param.finished");
      assertEquals(
        finished.map((e) => [e.param, e.outcome, e.exitCode ?? null]),
        [["0", "done", null], ["3", "failed", 3]],
        "outcomes",
      );
      assertEquals(events[0].callback, "container", "callback name");
      await assertNoContainers();
    });
  },
});

Deno.test({
  name:
    "a container's output goes to the results directory, with a job log line",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["0", "5"], async (dir, queue) => {
      const minion = startMinion(
        [
          "--results",
          `${dir}/results`,
          "--container",
          image,
          "sh",
          "-c",
          'echo "out $1"; echo "err $1" >&2; exit "$1"',
          "sh",
        ],
        { FILE_PATH: queue },
        dir,
      );
      const { code, stdout, stderr } = await minion.output;
      assertEquals([code, stdout], [1, ""], `stderr: ${stderr}`);
      const log = (await Deno.readTextFile(`${dir}/results/joblog.tsv`))
        .trim().split("\n").map((line) => line.split("\t"));
      assertEquals(log[0]![6], "exitcode");
      const rows = log.slice(1);
      assertEquals(rows.map((row) => row[6]), ["0", "5"], "exit codes");
      for (const [i, row] of rows.entries()) {
        const param = ["0", "5"][i];
        const output = `${dir}/results/${row[8]}`;
        assertEquals(
          await Deno.readTextFile(`${output}/stdout`),
          `out ${param}\n`,
        );
        assertEquals(
          await Deno.readTextFile(`${output}/stderr`),
          `err ${param}\n`,
        );
        assertMatch(row[9]!, /^\S*podman .* run --rm --name minion-/);
      }
      await assertNoContainers();
    });
  },
});

Deno.test("a param over 64 KiB reaches a container as a mounted file named by MINION_PARAM_FILE", () => {
  const callback = new ContainerCallback("img:1", ["prog"], {
    runtime: "podman",
  });
  const { args } = callback.runCommand("x", task, "/tmp/minion-param-1.json");
  assert(args.includes("MINION_PARAM_FILE=/tmp/minion-param.json"));
  assert(!args.some((arg) => arg.startsWith("MINION_PARAM=")));
  const mount = args.indexOf(
    "/tmp/minion-param-1.json:/tmp/minion-param.json:ro",
  );
  assertEquals(args[mount - 1], "-v");
  const apptainer = new ContainerCallback("sim.sif", ["prog"], {
    runtime: "apptainer",
  }).runCommand("x", task, "/tmp/p.json");
  assertEquals(
    apptainer.env.APPTAINERENV_MINION_PARAM_FILE,
    "/tmp/minion-param.json",
  );
  assertEquals(apptainer.env.APPTAINERENV_MINION_PARAM, undefined);
  assert(
    apptainer.args.join(" ").includes(
      "--bind /tmp/p.json:/tmp/minion-param.json:ro",
    ),
  );
});

Deno.test({
  name:
    "a container runs a param over 64 KiB and reads it from MINION_PARAM_FILE",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    const param = JSON.stringify({ id: 1, blob: "z".repeat(100 * 1024) });
    await withQueue([param], async (dir, queue) => {
      const minion = startMinion(
        [
          "--container",
          image,
          "sh",
          "-c",
          'echo "$1 ${MINION_PARAM:-none} $(wc -c < "$MINION_PARAM_FILE")"',
          "sh",
          "{id}",
        ],
        { FILE_PATH: queue, FILE_DECODER: "json" },
        dir,
      );
      const { code, stdout, stderr } = await minion.output;
      assertEquals(code, 0, `exit status (stderr: ${stderr})`);
      assertEquals(stdout.trim().split(/\s+/), [
        "1",
        "none",
        String(param.length),
      ]);
      await assertNoContainers();
    });
  },
});

Deno.test({
  name: "a container that outlives --timeout is stopped and removed",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["60"], async (dir, queue) => {
      const minion = startMinion(
        ["--timeout", "2", "--grace", "1", "--container", image, "sleep"],
        { FILE_PATH: queue, MINION_REPORTER: "stdout" },
        dir,
      );
      // busybox sleep as PID 1 ignores SIGTERM: the grace must end in a kill.
      const { code, stdout, stderr } = await minion.output;
      assertEquals(code, 1, `exit status (stderr: ${stderr})`);
      assert(/^failed\t.*timed out/m.test(stdout), `report: ${stdout}`);
      await assertNoContainers();
    });
  },
});

async function runningContainer(): Promise<string> {
  let names: string[] = [];
  await waitUntil("the container", async () => {
    names = await containersLabelled(MINION_LABEL);
    return names.length === 1;
  }, 60_000);
  return names[0]!;
}

Deno.test({
  name: "SIGTERM to the minion leaves no container behind",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["60", "60"], async (dir, queue) => {
      const minion = startMinion(
        ["--grace", "1", "--container", image, "sleep"],
        { FILE_PATH: queue, MINION_REPORTER: "stdout" },
        dir,
      );
      await runningContainer();
      minion.child.kill("SIGTERM");
      const { code, stdout, stderr } = await minion.output;
      assertEquals(code, 143, `exit status (stderr: ${stderr})`);
      assert(/^requeued\t/m.test(stdout), `report: ${stdout}`);
      await assertNoContainers();
    });
  },
});

Deno.test({
  name: "a second signal removes the container at once",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["60"], async (dir, queue) => {
      // A long grace: only the second signal can end this quickly.
      const minion = startMinion(
        ["--grace", "300", "--container", image, "sleep"],
        { FILE_PATH: queue },
        dir,
      );
      await runningContainer();
      minion.child.kill("SIGTERM");
      // Let the first signal's `podman stop` start before the second.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      minion.child.kill("SIGTERM");
      const { code, stderr } = await minion.output;
      assertEquals(code, 143, `exit status (stderr: ${stderr})`);
      await assertNoContainers();
    });
  },
});

Deno.test({
  name: "a container still being created when SIGTERM comes is removed too",
  ignore: !ok,
  async fn() {
    const image = await busyboxImage();
    await withQueue(["600"], async (dir, queue) => {
      // A podman that is slow to create containers: the stop finds nothing,
      // and only the removal loop can catch the container afterwards.
      const podmanPath = new TextDecoder().decode(
        (await new Deno.Command("sh", {
          args: ["-c", "command -v podman"],
        }).output()).stdout,
      ).trim();
      await Deno.mkdir(`${dir}/bin`);
      await Deno.writeTextFile(
        `${dir}/bin/podman`,
        `#!/bin/sh\ncase " $* " in *" run "*) touch "${dir}/creating"; sleep 3;; esac\nexec ${podmanPath} "$@"\n`,
      );
      await Deno.chmod(`${dir}/bin/podman`, 0o755);
      const minion = startMinion(
        ["--grace", "1", "--container", image, "sleep"],
        { FILE_PATH: queue, PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
        dir,
      );
      await waitUntil("the slow create", async () => {
        try {
          await Deno.stat(`${dir}/creating`);
          return true;
        } catch {
          return false;
        }
      }, 60_000);
      minion.child.kill("SIGTERM");
      // Only a guard against a hang: the removal loop (or, failing it, the
      // kill of the client after grace + 30 s) must end the run.
      const timer = setTimeout(() => minion.child.kill("SIGKILL"), 120_000);
      const { code, stderr } = await minion.output;
      clearTimeout(timer);
      assertEquals(code, 143, `exit status (stderr: ${stderr})`);
      await assertNoContainers();
    });
  },
});
