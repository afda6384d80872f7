import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { runCli, tempDir } from "../_cli.ts";
import { parseProject } from "../../runner/project_schema.ts";
import { PROJECT_KEYS } from "../../runner/project_keys.ts";
import { projectTemplate } from "../../commands/init.ts";

/** A directory with ten params and the given project file and `.env`. */
async function project(yml: string, dotenv?: string): Promise<string> {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/params.txt`,
    Array.from({ length: 10 }, (_, i) => `p${i + 1}`).join("\n") + "\n",
  );
  await Deno.writeTextFile(`${dir}/.minionize.yml`, yml);
  if (dotenv !== undefined) await Deno.writeTextFile(`${dir}/.env`, dotenv);
  return dir;
}

const BASE = `engine: file
env:
  FILE_PATH: params.txt
command: echo yml
`;

/** How many params a run in `dir` ran, and with which command. */
async function ran(
  dir: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<string[]> {
  const { code, stdout, stderr } = await runCli(args, { cwd: dir, env });
  assertEquals(code, 0, stderr);
  return stdout.trim().split("\n").filter((l) => l !== "");
}

Deno.test("settings come from flags, then environment, then .env, then .minionize.yml, then defaults", async () => {
  // Defaults: no limit, every param runs, with the project's command.
  const plain = await project(BASE);
  assertEquals((await ran(plain)).length, 10);
  assertEquals((await ran(plain))[0], "yml p1");

  const dir = await project(`${BASE}max_params: 4\n`, "MINION_MAX_PARAMS=3\n");
  const onlyYml = await project(`${BASE}max_params: 4\n`);
  assertEquals((await ran(onlyYml)).length, 4, ".minionize.yml over defaults");
  assertEquals((await ran(dir)).length, 3, ".env over .minionize.yml");
  assertEquals(
    (await ran(dir, [], { MINION_MAX_PARAMS: "2" })).length,
    2,
    "environment over .env",
  );
  assertEquals(
    (await ran(dir, ["--max-params", "1"], { MINION_MAX_PARAMS: "2" })).length,
    1,
    "flags over the environment",
  );
  // The program on the command line wins over the project's command.
  assertEquals(await ran(dir, ["echo", "cli"]), [
    "cli p1",
    "cli p2",
    "cli p3",
  ]);
});

Deno.test("the project file's env block sets engine settings; a list command is taken word for word", async () => {
  const dir = await project(`engine: file
command: [printf, "%s|%s\\n", "a b"]
concurrency: 2
env:
  FILE_PATH: params.txt
  MINION_MAX_PARAMS: 2
`);
  assertEquals((await ran(dir)).sort(), ["a b|p1", "a b|p2"]);
});

const MALFORMED: [string, string, RegExp][] = [
  [
    "zero GPUs per task",
    "gpus_per_task: 0\n",
    /line 1: gpus_per_task is 0: expected a whole number from 1 to 1024/,
  ],
  [
    "a misspelt key",
    "engine: file\nconcurency: 3\n",
    /line 2: unknown key 'concurency' \(did you mean 'concurrency'\?\); allowed keys: command, engine, /,
  ],
  [
    "a word for a number",
    "engine: file\nconcurrency: four\n",
    /line 2: concurrency is 'four': expected a whole number from 1 to 10000/,
  ],
  [
    "zero concurrency",
    "concurrency: 0\n",
    /line 1: concurrency is 0: expected a whole number from 1 to 10000/,
  ],
  [
    "a fractional retry count",
    "\n\nretries: 1.5\n",
    /line 3: retries is 1\.5: expected a whole number from 0 to 1000/,
  ],
  [
    "a negative timeout",
    "timeout: -5\n",
    /line 1: timeout is -5: expected a number of seconds from 0\.001 to 31536000/,
  ],
  [
    "an unknown engine",
    "engine: rediss\n",
    /line 1: engine is 'rediss': expected one of (\w+, )*file\b/,
  ],
  [
    "an unknown reporter",
    "reporter: xml\n",
    /line 1: reporter is 'xml': expected one of null, stdout, json/,
  ],
  [
    "a yes/no setting given as a word",
    "bar: maybe\n",
    /line 1: bar is 'maybe': expected true or false/,
  ],
  [
    "an empty command list",
    "command: []\n",
    /line 1: command is a list: expected the program and its arguments/,
  ],
  [
    "a command with an unclosed quote",
    "engine: file\ncommand: echo 'oops\n",
    /line 2: command is 'echo 'oops': expected the program and its arguments, .*\(quotes closed\)/,
  ],
  [
    "a command list holding a mapping",
    "command:\n  - echo\n  - {a: 1}\n",
    /line 3: command\.1 is a mapping: expected the program and its arguments/,
  ],
  [
    "a lower-case variable in env",
    "env:\n  FILE_PATH: x\n  file_path: y\n",
    /line 3: env key 'file_path' is not a variable name: expected capitals/,
  ],
  [
    "an env value that is a list",
    "env:\n  FILE_PATH: [a, b]\n",
    /line 2: env\.FILE_PATH is a list: expected a string, a number or true\/false/,
  ],
  [
    "a variable set twice",
    "concurrency: 2\nenv:\n  MINION_CONCURRENCY: 3\n",
    /line 3: env\.MINION_CONCURRENCY sets the same as the key 'concurrency'; keep only one/,
  ],
  [
    "a key given twice",
    "retries: 1\nretries: 2\n",
    /line 2: Map keys must be unique; write it as 'key: value' lines/,
  ],
  [
    "broken YAML",
    "engine: file\nenv: {FILE_PATH: x\n",
    /line \d: .*; write it as 'key: value' lines/,
  ],
  [
    "a list instead of a mapping",
    "- engine: file\n",
    /line 1: expected 'key: value' lines, got a list; allowed keys: command, /,
  ],
  [
    "a concurrency too large to allocate",
    "concurrency: 1e20\n",
    /line 1: concurrency is 100000000000000000000: expected a whole number from 1 to 10000/,
  ],
  [
    "a timeout longer than a year",
    "timeout: 40000000\n",
    /line 1: timeout is 40000000: expected a number of seconds from 0\.001 to 31536000 \(365 days\)/,
  ],
  [
    "aliases that expand without end",
    `a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]
`,
    /Cannot read \.minionize\.yml: its aliases \(\*name\) expand too far; write the values out instead/,
  ],
  [
    "lists nested too deeply for the parser",
    `command: ${"[".repeat(5000)}\n`,
    /Cannot read \.minionize\.yml: line 1: lists or mappings are nested too deeply/,
  ],
  [
    "an env key given twice",
    "env:\n  FILE_PATH: a\n  FILE_PATH: b\n",
    /line 3: Map keys must be unique/,
  ],
  [
    "a bad stats address",
    "stats: http://x\n",
    /line 1: stats is 'http:\/\/x': expected a port \(bound to 127\.0\.0\.1\)/,
  ],
];

MALFORMED.push(
  [
    "an unknown container runtime",
    "container_runtime: lxc\n",
    /line 1: container_runtime is 'lxc': expected one of podman, docker, apptainer, singularity/,
  ],
  [
    "a walltime that is no duration",
    "walltime: two hours\n",
    /line 1: walltime is 'two hours': expected seconds, or MM:SS, HH:MM:SS or D-HH:MM:SS, up to 365 days, or none/,
  ],
  [
    "a zero lease",
    "lease: 0\n",
    /line 1: lease is 0: expected a number of seconds from 1 to 86400/,
  ],
  [
    "container options holding a number",
    "container_opts: [-v, 3]\n",
    /line 1: container_opts\.1 is 3: expected options of the runtime's run command/,
  ],
);

for (const [what, yml, message] of MALFORMED) {
  Deno.test(`a .minionize.yml with ${what} is refused with its line and what is allowed`, async () => {
    const dir = await project(yml);
    const { code, stdout, stderr } = await runCli(["echo"], { cwd: dir });
    assertEquals([code, stdout], [2, ""]);
    assertMatch(stderr, /^minionize: error: Cannot read \.minionize\.yml: /);
    assertMatch(stderr, message);
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
  });
}

Deno.test("minionize init writes a commented file that runs once uncommented, and never overwrites it", async () => {
  const dir = await tempDir();
  const first = await runCli(["init"], { cwd: dir });
  assertEquals(first.code, 0, first.stderr);
  const text = await Deno.readTextFile(`${dir}/.minionize.yml`);
  assertEquals(text, projectTemplate());
  for (const key of Object.keys(PROJECT_KEYS)) {
    assertMatch(text, new RegExp(`^# ${key}:`, "m"));
  }
  // Commented out, it changes nothing: no program is named.
  const empty = await runCli(["--dry-run", "--engine", "file"], { cwd: dir });
  assertEquals(empty.code, 2);
  assertMatch(empty.stderr, /no program to run.*\.minionize\.yml/);

  const again = await runCli(["init"], { cwd: dir });
  assertEquals(again.code, 2);
  assertMatch(again.stderr, /\.minionize\.yml already exists/);
  assertEquals(await Deno.readTextFile(`${dir}/.minionize.yml`), text);

  // Every key uncommented is valid: the dry run gets as far as the params.
  await Deno.writeTextFile(
    `${dir}/.minionize.yml`,
    text.replace(/^# ([a-z_]+:)/gm, "$1").replace(/^# {3}/gm, "  "),
  );
  await Deno.writeTextFile(
    `${dir}/params.txt`,
    '{"lr": 0.1, "depth": 3}\n',
  );
  // GPUs and CPUs per task depend on the node: four GPUs are given, and
  // the environment's empty value unsets the file's CPUs per task, which
  // this machine may have too few of.
  const full = await runCli(["--dry-run"], {
    cwd: dir,
    env: { CUDA_VISIBLE_DEVICES: "0,1,2,3", MINION_CPUS_PER_TASK: "" },
  });
  assertEquals(full.code, 0, full.stderr);
  assert(
    full.stdout.includes("python3 train.py --lr 0.1 --depth 3"),
    full.stdout,
  );
});

Deno.test("walltime, lease, heartbeat, quiet and the container runtime and options are read from .minionize.yml", async () => {
  const { parseProject } = await import("../../runner/project_schema.ts");
  const project = parseProject(
    `walltime: "1-02:00:00"
lease: 90
heartbeat: 15
quiet: true
container_runtime: docker
container_opts: [-v, "/my data:/data", --network=none]
`,
    ".minionize.yml",
  );
  assertEquals(project.variables, {
    MINION_WALLTIME: "1-02:00:00",
    MINION_LEASE: "90",
    MINION_HEARTBEAT: "15",
    MINION_QUIET: "1",
    MINION_CONTAINER_RUNTIME: "docker",
    MINION_CONTAINER_OPTS: "-v '/my data:/data' --network=none",
  });
  assertEquals(
    parseProject("container_opts: -v /a:/a\nwalltime: 3600\n", "p")
      .variables,
    { MINION_CONTAINER_OPTS: "-v /a:/a", MINION_WALLTIME: "3600" },
  );
});

Deno.test("a walltime in .minionize.yml stops the minion taking params it has no time for", async () => {
  const dir = await project(`${BASE}walltime: 1\n`);
  const { code, stdout, stderr } = await runCli(
    ["sh", "-c", "sleep 0.6; echo $0"],
    { cwd: dir },
  );
  assertEquals(code, 0, stderr);
  // 0.6 s per run within 1 s: the second would not finish in time.
  assert(stdout.trim().split("\n").length < 10, stdout);
  assertMatch(stderr, /taking no more params/);
});

Deno.test("a project file with many env keys is read in linear time", () => {
  const keys = 150_000;
  const text = `env:\n${
    Array.from({ length: keys }, (_, i) => `  K${i}: v\n`).join("")
  }`;
  const started = performance.now();
  const project = parseProject(text, ".minionize.yml");
  const seconds = (performance.now() - started) / 1000;
  assertEquals(Object.keys(project.variables).length, keys);
  // Linear: a few seconds even on a busy machine; the quadratic check of
  // unique keys took minutes.
  assert(seconds < 30, `took ${seconds.toFixed(1)} s`);
});
