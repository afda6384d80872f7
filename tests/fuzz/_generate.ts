/**
 * Random command lines, settings, `.env` and `.minionize.yml` files and
 * param lines, as a hostile but realistic user would write them: mostly
 * plausible, often slightly wrong, sometimes absurd.
 *
 * Every case runs in a working directory of its own that holds the fuzz
 * program (`./prog.sh`, which logs each run to `ran.log`), a few broken
 * programs and, for the shared-filesystem engine, a small sweep. Cases
 * never need a server: broker engines point at a closed port.
 *
 * @module
 */

import type { Rng } from "./_rng.ts";

/** A signal sent to the minion while it runs. */
export interface FuzzSignal {
  name: "SIGTERM" | "SIGINT";
  afterMs: number;
}

/** One generated case: what to write, what to run. */
export interface FuzzCase {
  /** Its number in the run. */
  index: number;
  /** The command line after `minionize`. */
  args: string[];
  /** Variables in the minion's environment. */
  env: Record<string, string>;
  /** Files to write in the working directory, by relative path. */
  files: Record<string, string | Uint8Array>;
  /** Bytes on standard input (closed after), or none. */
  stdin: Uint8Array | undefined;
  /** A named pipe `params.fifo` with a writer that sends these bytes. */
  fifo: Uint8Array | undefined;
  /** Copy the prepared sweep into `sweeps/`. */
  sweep: boolean;
  /** Signals to send while it runs. */
  signals: FuzzSignal[];
  /** Directories or files the user asked output in: writes there are fine. */
  outputs: string[];
  /** Whether `--debug` was given (stack traces are then expected). */
  debug: boolean;
}

const encoder = new TextEncoder();

const NUMBERS = [
  "",
  " ",
  "0",
  "1",
  "2",
  "3",
  "-1",
  "1.5",
  "0.0001",
  "0.001",
  "0.2",
  "1e3",
  "3000000",
  "10000000",
  "86400",
  "10000",
  "10001",
  "99999999999999999999",
  "NaN",
  "Infinity",
  "abc",
  "0x10",
  "+3",
  " 4 ",
  "١٢",
  "1_000",
  "9".repeat(400),
  "2\n3",
  "5s",
  "1:00",
];
const SMALL = ["1", "2", "3", "0.5", "0.2", "1.5"];
const BOOLEANS = [
  "1",
  "0",
  "yes",
  "no",
  "on",
  "off",
  "true",
  "TRUE",
  "maybe",
  "",
];
const ENGINES = ["file", "file", "file", "execo", "execo", "FILE", "nope", ""];
const BROKERS: Record<string, Record<string, string>> = {
  redis: { REDIS_URL: "redis://127.0.0.1:1" },
  postgres: { DATABASE_URL: "postgres://u@127.0.0.1:1/db" },
  nats: { NATS_URL: "nats://127.0.0.1:1" },
  rabbitmq: { AMQP_URL: "amqp://127.0.0.1:1" },
  kafka: { KAFKA_BROKERS: "127.0.0.1:1" },
  pulsar: { PULSAR_TOPIC: "t", PULSAR_CONNECTION: "pulsar://127.0.0.1:1" },
};
const REPORTERS = ["null", "stdout", "json", "xml", ""];
const PATHS = [
  "out",
  "out/deep",
  "../outside",
  "",
  ".",
  "a b",
  "ran.log",
  "prog.sh",
  "tmp",
];
const STATS = ["0", "127.0.0.1:0", ":0", "abc", "70000", "[::1]:0", "0.0.0.0:"];
const WALLTIMES = [
  "0.001",
  "1",
  "1:00",
  "0-00:00:01",
  "none",
  "-1",
  "25:61",
  "400-00:00:00",
];

/** Words a hostile param may hold. */
const PARAM_WORDS = [
  "a",
  "b c",
  "fail",
  "slow",
  "--flag",
  "$(touch PWNED1)",
  "'; touch PWNED2; '",
  '"; touch PWNED3; "',
  "`touch PWNED4`",
  "x'\"$(touch PWNED5)\"'",
  "*",
  "~",
  "{}",
  "{a}",
  "\\",
  "'",
  '"',
  "\t",
  "é☃",
  "-",
  "--",
];

function paramLine(rng: Rng): string | Uint8Array {
  switch (rng.int(0, 12)) {
    case 0:
      return JSON.stringify({
        a: rng.pick(PARAM_WORDS),
        b: rng.int(-5, 5),
        c: [rng.pick(PARAM_WORDS)],
      });
    case 1:
      return JSON.stringify([rng.pick(PARAM_WORDS), rng.int(0, 9)]);
    case 2:
      return String(rng.pick([0, 1, -1, 3.5, 1e308, "null", "true"]));
    case 3:
      return rng.pick(['{"a": ', "[1,", "{oops}", '"open', "'open"]);
    case 4:
      return ""; // blank
    case 5:
      return `${rng.pick(PARAM_WORDS)}\r`; // a CRLF line
    case 6:
      // Not UTF-8.
      return new Uint8Array([0x61, 0xff, 0xfe, 0x62]);
    case 7:
      // Over the 64 KiB of MINION_PARAM, sometimes over one argument's 128 KiB.
      return JSON.stringify({
        a: "x".repeat(rng.pick([70_000, 140_000])),
        id: rng.int(0, 9),
      });
    default:
      return rng.some(PARAM_WORDS, 0.3).join(" ") || rng.pick(PARAM_WORDS);
  }
}

/** The lines of a params file or standard input. */
function paramBytes(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = rng.int(0, 6); i > 0; i--) {
    const line = paramLine(rng);
    parts.push(typeof line === "string" ? encoder.encode(line) : line);
    parts.push(encoder.encode("\n"));
  }
  if (rng.chance(0.1) && parts.length > 0) parts.pop(); // no final newline
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/** A value for `variable`. */
function settingValue(rng: Rng, variable: string): string {
  switch (variable) {
    case "MINION_ENGINE":
      return rng.pick(ENGINES);
    case "MINION_REPORTER":
      return rng.pick(REPORTERS);
    case "MINION_SHELL":
    case "MINION_BAR":
    case "MINION_QUIET":
    case "DRY":
      return rng.pick(BOOLEANS);
    case "MINION_RESULTS":
    case "REPORTER_JSON_DIRECTORY":
    case "EXECO_PERSISTENCE_DIR":
    case "FILE_PATH":
      return rng.pick([...PATHS, "params", "params", "-", "params.fifo"]);
    case "FILE_DECODER":
      return rng.pick(["identity", "json", "JSON", "xml", ""]);
    case "MINION_STATS":
      return rng.pick(STATS);
    case "MINION_WALLTIME":
      return rng.pick(WALLTIMES);
    case "MINION_CONTAINER_IMAGE":
      return rng.pick(["busybox", "", "img:1"]);
    case "MINION_CONTAINER_RUNTIME":
      // Never a runtime that is installed: it would try to pull images.
      return rng.pick(["nosuch", "docker", "apptainer", "singularity", "lxc"]);
    default:
      return rng.chance(0.6) ? rng.pick(SMALL) : rng.pick(NUMBERS);
  }
}

const VARIABLES = [
  "MINION_ENGINE",
  "MINION_CONCURRENCY",
  "MINION_RETRIES",
  "MINION_TIMEOUT",
  "MINION_GRACE",
  "MINION_SHELL",
  "MINION_RESULTS",
  "MINION_MAX_PARAMS",
  "MINION_IDLE_EXIT",
  "MINION_WALLTIME",
  "MINION_STATS",
  "MINION_BAR",
  "MINION_HEARTBEAT",
  "MINION_LEASE",
  "MINION_REPORTER",
  "REPORTER_JSON_DIRECTORY",
  "DRY",
  "FILE_PATH",
  "FILE_DECODER",
  "EXECO_PERSISTENCE_DIR",
  "TOP_INTERVAL",
  "TOP_LOST",
  "MINION_QUIET",
  "MINION_GPUS_PER_TASK",
  "MINION_CPUS_PER_TASK",
];

const FLAGS: [string, string | undefined][] = [
  ["-j", "MINION_CONCURRENCY"],
  ["--jobs", "MINION_CONCURRENCY"],
  ["--gpus-per-task", "MINION_GPUS_PER_TASK"],
  ["--cpus-per-task", "MINION_CPUS_PER_TASK"],
  ["--quiet", undefined],
  ["--retries", "MINION_RETRIES"],
  ["--timeout", "MINION_TIMEOUT"],
  ["--grace", "MINION_GRACE"],
  ["--shell", undefined],
  ["--results", "MINION_RESULTS"],
  ["--reporter", "MINION_REPORTER"],
  ["--max-params", "MINION_MAX_PARAMS"],
  ["--idle-exit", "MINION_IDLE_EXIT"],
  ["--walltime", "MINION_WALLTIME"],
  ["--stats", "MINION_STATS"],
  ["--bar", undefined],
  ["--dry-run", undefined],
  ["--engine", "MINION_ENGINE"],
  ["--debug", undefined],
  ["--container-runtime", "MINION_CONTAINER_RUNTIME"],
  ["--container-opt", "MINION_CONTAINER_OPTS"],
  ["--help", undefined],
  ["-h", undefined],
  ["--version", undefined],
  ["--nope", undefined],
  ["-x", undefined],
];

const PATH_FLAGS = new Set(["--results", "--dir"]);

/** Options before the program, each as one or two words. */
function flags(rng: Rng, outputs: string[]): string[] {
  const words: string[] = [];
  for (let n = rng.int(0, 5); n > 0; n--) {
    const [flag, variable] = rng.pick(FLAGS);
    if (variable === undefined) {
      // Rarely: help and version end the run at once; keep them rare.
      if (["--help", "-h", "--version"].includes(flag) && rng.chance(0.7)) {
        continue;
      }
      words.push(rng.chance(0.05) ? `${flag}=1` : flag);
      continue;
    }
    const value = settingValue(rng, variable);
    if (PATH_FLAGS.has(flag)) outputs.push(value);
    if (rng.chance(0.2)) words.push(`${flag}=${value}`);
    else if (rng.chance(0.03)) words.push(flag); // a missing value
    else words.push(flag, value);
  }
  return words;
}

const PROGRAMS = [
  "./prog.sh",
  "./prog.sh",
  "./prog.sh",
  "./prog.sh",
  "prog.sh",
  "./bad.sh",
  "./crlf.sh",
  "./noexec.sh",
  "./",
  "/no/such/program",
  "{}",
  "echo",
];

const ARGS = [
  "{}",
  "{a}",
  "{0}",
  "{b}",
  "{x.y}",
  "{%}",
  "'{}'",
  '"{}"',
  "{",
  "}",
  "{{}}",
  "--flag",
  "a b",
  "$(touch PWNED6)",
  "-",
  "--",
];

const SHELL_SCRIPTS = [
  "./prog.sh {}",
  "./prog.sh '{}'",
  './prog.sh "{}"',
  "./prog.sh `echo {}`",
  './prog.sh "$(echo {})"',
  "./prog.sh {a} '{b}' | cat",
  "./prog.sh",
  "./prog.sh '",
  "./prog.sh ${X:-{}}",
  "./prog.sh $(( {b} + 1 ))",
];

/** The program and its arguments. */
function command(rng: Rng, shell: boolean): string[] {
  if (shell && rng.chance(0.7)) return [rng.pick(SHELL_SCRIPTS)];
  if (rng.chance(0.05)) return [];
  return [rng.pick(PROGRAMS), ...rng.some(ARGS, 0.15)];
}

/** A `.env` file: assignments, mostly of settings, some lines broken. */
function dotenv(rng: Rng, outputs: string[]): string {
  const lines: string[] = [];
  for (let n = rng.int(1, 6); n > 0; n--) {
    const kind = rng.int(0, 9);
    if (kind === 0) {
      lines.push(rng.pick(["oops", "=x", "export", "A B=1", "1A=2", "  # ok"]));
    } else if (kind === 1) {
      lines.push(`${rng.pick(VARIABLES)}="unclosed`);
    } else {
      const variable = rng.pick(VARIABLES);
      const value = settingValue(rng, variable);
      if (/RESULTS|DIRECTORY|DIR$|FILE_PATH/.test(variable)) {
        outputs.push(value);
      }
      const quoted = rng.chance(0.3) ? `"${value}"` : value.replace(/\n/g, "");
      lines.push(`${rng.chance(0.2) ? "export " : ""}${variable}=${quoted}`);
    }
  }
  const eol = rng.chance(0.1) ? "\r\n" : "\n";
  return (rng.chance(0.05) ? "\ufeff" : "") + lines.join(eol) + eol;
}

const YML_KEYS: Record<string, () => string[]> = {
  concurrency: () => ["1", "4", "0", "1e20", "-2", "2.5", "'3'", "10000"],
  retries: () => ["0", "2", "1001", "1.5", "x"],
  timeout: () => ["1", "0.001", "40000000", "0", "'5'", "3000000"],
  grace: () => ["1", "86401", "0.5"],
  max_params: () => ["1", "2", "0", "1e10"],
  idle_exit: () => ["1", "0.2", "3000000"],
  shell: () => ["true", "false", "yes", "1"],
  results: () => ["out", "''", "../outside", "[a]"],
  reporter: () => ["json", "stdout", "xml"],
  engine: () => ["file", "execo", "nope"],
  stats: () => ["0", "'127.0.0.1:0'", "99999", "http://x"],
  bar: () => ["true", "maybe"],
  container: () => ["busybox", "''"],
  command: () => [
    "./prog.sh {}",
    "[./prog.sh, '{a}']",
    "''",
    "[]",
    '"./prog.sh \'open"',
    "[./prog.sh, {a: 1}]",
  ],
  env: () => [
    "{ FILE_PATH: params }",
    "{ FILE_DECODER: json, MINION_MAX_PARAMS: 2 }",
    "{ file_path: x }",
    "{ MINION_CONCURRENCY: 3 }",
    "{ MINION_GRACE: 3000000 }",
    "[a, b]",
  ],
  walltime: () => ["1", "'2:00:00'", "none", "0", "'400-00:00:00'", "40000000"],
  lease: () => ["1", "0.5", "86401", "60"],
  heartbeat: () => ["0.05", "1", "100000"],
  quiet: () => ["true", "no"],
  container_runtime: () => ["docker", "nosuch", "1"],
  container_opts: () => ["[-v, /a:/a]", "'-e X=1'", "{a: 1}"],
  concurency: () => ["3"],
};

/** A `.minionize.yml`: keys with plausible or wrong values, sometimes broken YAML. */
function projectFile(rng: Rng, outputs: string[]): string {
  switch (rng.int(0, 14)) {
    case 0:
      return "engine: file\n\tretries: 1\n"; // a tab
    case 1:
      return "- engine: file\n";
    case 2: {
      // Aliases that expand without end.
      const rows = ["a: &a [x, x, x, x, x, x, x, x, x]"];
      for (const [i, name] of ["b", "c", "d", "e"].entries()) {
        const prev = ["a", "b", "c", "d"][i]!;
        rows.push(
          `${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`,
        );
      }
      return rows.join("\n") + "\n";
    }
    case 3:
      return `command: ${"[".repeat(rng.pick([50, 5000]))}\n`;
    case 4:
      return "retries: 1\nretries: 2\n";
    case 5:
      return "---\nengine: file\n---\nengine: execo\n";
    case 6:
      return "\0\x01binary";
    default: {
      const keys = rng.some(Object.keys(YML_KEYS), 0.3);
      return keys.map((key) => {
        const value = rng.pick(YML_KEYS[key]!());
        if (key === "results") outputs.push(value.replace(/^'(.*)'$/, "$1"));
        return `${key}: ${value}`;
      }).join("\n") + "\n";
    }
  }
}

/** `--wait` for status and top: short, or wrong (the default waits 30 s). */
function wait(rng: Rng): string[] {
  return [
    "--wait",
    rng.pick(["0", "0", "0.2", "1", "-1", "soon", "86401", ""]),
  ];
}

const SUBCOMMANDS: ((rng: Rng, outputs: string[]) => string[])[] = [
  (
    rng,
  ) => [
    "status",
    ...wait(rng),
    ...rng.some(["--json", "--debug", "minion-report", "nope", "ran.log"], 0.3),
  ],
  (
    rng,
  ) => [
    "top",
    "--once",
    ...wait(rng),
    ...rng.some(["--debug", "minion-report", "--endpoint=127.0.0.1:1"], 0.3),
  ],
  (
    rng,
  ) => [
    "sweep",
    rng.pick(["status", "list", "reset", "nope"]),
    ...rng.some(["--json", "--todo", "--failed"], 0.3),
  ],
  (rng, outputs) => {
    const dir = rng.pick(["sweeps", "s2", "../outside"]);
    outputs.push(dir);
    return [
      "sweep",
      "create",
      "--dir",
      dir,
      "--param",
      rng.pick(["a=1,2", "a=", "=1", "a=[1,", 'a={"x":{}}', "a=1"]),
      ...(rng.chance(0.3) ? ["--param", "a=2"] : []),
    ];
  },
  (
    rng,
  ) => [
    "publish",
    ...rng.some([
      "--param",
      "a=1,2",
      "--json",
      "--lines",
      "params",
      "-",
      "--create",
    ], 0.4),
  ],
  (rng) => ["init", ...rng.some(["--debug", "--force"], 0.3)],
];

/** Case `index` of a run, drawn from `rng`. */
export function generateCase(rng: Rng, index: number): FuzzCase {
  const outputs: string[] = [];
  const files: Record<string, string | Uint8Array> = {};
  const env: Record<string, string> = {};
  let args: string[];
  const shell = rng.chance(0.2);

  // The queue: the file engine's params in a file, on standard input or in
  // a named pipe; a sweep; or a broker that is not there.
  const engine = rng.pick([
    "file",
    "file",
    "file",
    "file",
    "execo",
    "execo",
    "broker",
    "junk",
  ]);
  const params = paramBytes(rng);
  let stdin: Uint8Array | undefined;
  let fifo: Uint8Array | undefined;
  if (engine === "file") {
    env.MINION_ENGINE = "file";
    const source = rng.pick(["file", "file", "stdin", "stdin", "fifo"]);
    if (source === "file") {
      files.params = params;
      env.FILE_PATH = "params";
    } else if (source === "stdin") {
      stdin = params;
    } else {
      fifo = params;
      env.FILE_PATH = "params.fifo";
    }
    if (rng.chance(0.3)) env.FILE_DECODER = rng.pick(["json", "identity", "x"]);
  } else if (engine === "execo") {
    env.MINION_ENGINE = "execo";
  } else if (engine === "broker") {
    const name = rng.pick(Object.keys(BROKERS));
    env.MINION_ENGINE = name;
    Object.assign(env, BROKERS[name]);
  } else {
    env.MINION_ENGINE = rng.pick(["nope", "", " file", "FILE", "exec"]);
  }

  // Settings in the environment, beside the engine's.
  for (const variable of rng.some(VARIABLES, 0.12)) {
    const value = settingValue(rng, variable);
    if (/RESULTS|DIRECTORY|DIR$|FILE_PATH/.test(variable)) outputs.push(value);
    if (variable === "MINION_ENGINE" && rng.chance(0.7)) continue;
    env[variable] = value;
  }
  if (rng.chance(0.05)) {
    env.MINION_CONTAINER_IMAGE = "busybox";
    env.MINION_CONTAINER_RUNTIME = settingValue(
      rng,
      "MINION_CONTAINER_RUNTIME",
    );
  }
  if (rng.chance(0.25)) files[".env"] = dotenv(rng, outputs);
  if (rng.chance(0.2)) files[".minionize.yml"] = projectFile(rng, outputs);

  if (rng.chance(0.2)) {
    args = rng.pick(SUBCOMMANDS)(rng, outputs);
  } else {
    const options = flags(rng, outputs);
    if (shell) options.push("--shell");
    const separator = rng.chance(0.1) ? ["--"] : [];
    args = [...rng.shuffle(options), ...separator, ...command(rng, shell)];
  }
  // Publishing into the named pipe would wait for a reader, as writing to
  // any named pipe does: publish to a file or standard output instead.
  if (args[0] === "publish") env.FILE_PATH = rng.pick(["queue", "-", "params"]);
  // A container run never reaches a real runtime (it would pull images):
  // the environment's runtime wins over .env and .minionize.yml.
  env.MINION_CONTAINER_RUNTIME ??= "nosuch";
  const signals: FuzzSignal[] = [];
  if (rng.chance(0.12)) {
    const name = rng.pick(["SIGTERM", "SIGINT"] as const);
    const afterMs = rng.int(50, 900);
    signals.push({ name, afterMs });
    if (rng.chance(0.3)) {
      signals.push({ name, afterMs: afterMs + rng.int(0, 300) });
    }
  }
  // Default places the minion writes to, when asked to.
  outputs.push("minion-report", "sweeps", "queue");
  return {
    index,
    args,
    env,
    files,
    stdin,
    fifo,
    sweep: engine === "execo" || rng.chance(0.1),
    signals,
    outputs,
    debug: args.includes("--debug"),
  };
}
