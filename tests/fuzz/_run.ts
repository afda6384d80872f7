/**
 * Runs one fuzz case as a user would (the CLI in a process of its own, in a
 * fresh working directory) and says which of the CLI's promises it broke:
 *
 * - it exits 0, 1, 2, 130 or 143, within a bound (no hang);
 * - on exit 2: exactly one line, `minionize: error: ...`, on stderr, nothing
 *   on stdout, and nothing taken from the queue (no program ran, the sweep
 *   is byte for byte the same);
 * - never a stack trace (unless `--debug`), never a JavaScript error
 *   (`TypeError`, `Cannot read properties`, ...) as its message;
 * - no file outside the working directory and the places the case named
 *   for output; no file made by a param's shell syntax (`PWNED*`);
 * - a dry run runs nothing and changes no sweep;
 * - once it has left, none of its programs still runs, and no param file
 *   is left in `TMPDIR`.
 *
 * @module
 */

import { CLI } from "../_cli.ts";
import type { FuzzCase } from "./_generate.ts";

/** How one case ended. */
export interface FuzzResult {
  /** The case. */
  fuzz: FuzzCase;
  /** The exit status, or `undefined` when it had to be killed. */
  code: number | undefined;
  stdout: string;
  stderr: string;
  /** The promises it broke; empty when it kept them all. */
  problems: string[];
  /** Its working directory (kept only when asked). */
  dir: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const PROG = `#!/bin/sh
printf 'run %s\\n' "$*" >> "$FUZZ_DIR/ran.log"
case "$*" in *slow*) sleep 0.3 ;; esac
case "$*" in *fail*) exit 3 ;; esac
exit 0
`;

/** Files every case starts with, and the sweep an execo case drains. */
export interface FuzzTemplate {
  /** The directory holding them. */
  dir: string;
  /** The sweep's files, by name. */
  sweep: Map<string, Uint8Array>;
}

/** Writes the template under `root`: programs and a small sweep. */
export async function makeTemplate(root: string): Promise<FuzzTemplate> {
  const dir = `${root}/_template`;
  await Deno.mkdir(dir, { recursive: true });
  const made = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      CLI,
      "sweep",
      "create",
      "--param",
      "a=1,2,3",
      "--param",
      "b=x,fail,slow",
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!made.success) {
    throw new Error(`cannot make the sweep: ${decoder.decode(made.stderr)}`);
  }
  const sweep = new Map<string, Uint8Array>();
  for (const entry of Deno.readDirSync(`${dir}/sweeps`)) {
    sweep.set(entry.name, Deno.readFileSync(`${dir}/sweeps/${entry.name}`));
  }
  return { dir, sweep };
}

async function write(
  path: string,
  content: string | Uint8Array,
  mode?: number,
) {
  await Deno.writeFile(
    path,
    typeof content === "string" ? encoder.encode(content) : content,
    mode === undefined ? {} : { mode },
  );
  if (mode !== undefined) await Deno.chmod(path, mode);
}

/** Writes the case's working directory `dir`. */
async function prepare(
  fuzz: FuzzCase,
  dir: string,
  template: FuzzTemplate,
): Promise<void> {
  await Deno.mkdir(`${dir}/tmp`, { recursive: true });
  await write(`${dir}/prog.sh`, PROG, 0o755);
  await write(`${dir}/bad.sh`, "#!/no/such/interpreter\nexit 0\n", 0o755);
  await write(`${dir}/crlf.sh`, "#!/bin/sh\r\nexit 0\r\n", 0o755);
  await write(`${dir}/noexec.sh`, "#!/bin/sh\nexit 0\n", 0o644);
  if (fuzz.sweep) {
    await Deno.mkdir(`${dir}/sweeps`);
    for (const [name, bytes] of template.sweep) {
      await Deno.writeFile(`${dir}/sweeps/${name}`, bytes);
    }
  }
  for (const [name, content] of Object.entries(fuzz.files)) {
    await write(`${dir}/${name}`, content);
  }
  if (fuzz.fifo) {
    const made = await new Deno.Command("mkfifo", {
      args: [`${dir}/params.fifo`],
    }).output();
    if (!made.success) throw new Error("mkfifo failed");
  }
}

/** Reads a stream, keeping at most `max` bytes. */
async function collect(
  stream: ReadableStream<Uint8Array>,
  max = 1 << 20,
): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size < max) parts.push(chunk.subarray(0, max - size));
    size += chunk.length;
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return decoder.decode(all);
}

/** Every path under `dir`, recursively (symbolic links not followed). */
function walk(dir: string, into: string[] = []): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return into;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    into.push(path);
    if (entry.isDirectory) walk(path, into);
  }
  return into;
}

/** `path` made absolute against `base`, with `.` and `..` resolved. */
function resolve(base: string, path: string): string {
  const parts: string[] = [];
  for (
    const part of (path.startsWith("/") ? path : `${base}/${path}`).split("/")
  ) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** Pids of processes whose environment holds `FUZZ_DIR=dir`. */
function programsOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const env = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (env.split("\0").includes(`FUZZ_DIR=${dir}`)) {
        pids.push(Number(entry.name));
      }
    } catch {
      // gone, or not readable
    }
  }
  return pids;
}

const TRUE = ["1", "true", "yes", "on"];

/** The options that take a value, as `minionize` reads them. */
const VALUED = new Set([
  "-j",
  "--jobs",
  "--gpus-per-task",
  "--cpus-per-task",
  "--engine",
  "--retries",
  "--timeout",
  "--grace",
  "--container",
  "--container-runtime",
  "--container-opt",
  "--results",
  "--reporter",
  "--max-params",
  "--idle-exit",
  "--walltime",
  "--stats",
]);

/** The switches and options before the program, values left out. */
function options(args: readonly string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--" || !arg.startsWith("-") || arg === "-") break;
    found.push(arg);
    if (VALUED.has(arg)) i++; // its value, whatever it looks like
  }
  return found;
}

/**
 * Whether the switch `flag` (`variable`, `ymlKey` in `.minionize.yml`) is on
 * for the case, by the documented precedence: flags, environment, `.env`,
 * `.minionize.yml`.
 */
function switchedOn(
  fuzz: FuzzCase,
  flag: string,
  variable: string,
  ymlKey?: string,
): boolean {
  if (options(fuzz.args).includes(flag)) return true;
  const on = (text: string) => TRUE.includes(text.trim().toLowerCase());
  if (fuzz.env[variable] !== undefined) return on(fuzz.env[variable]!);
  const dotenv = fuzz.files[".env"];
  if (typeof dotenv === "string") {
    const assignment = new RegExp(`^\\s*(export\\s+)?${variable}=`);
    const line = dotenv.split(/\r?\n/).reverse().find((l) =>
      assignment.test(l)
    );
    if (line !== undefined) {
      return on(line.replace(assignment, "").replace(/^"|"$/g, ""));
    }
  }
  const yml = fuzz.files[".minionize.yml"];
  if (ymlKey && typeof yml === "string") {
    const value = new RegExp(`^${ymlKey}: (.*)$`, "m").exec(yml)?.[1];
    if (value !== undefined) return on(value);
  }
  return false;
}

const STACK = [
  /^\s+at .*(:\d+:\d+\)?|<anonymous>\)?|\(native\))$/m,
  /error: Uncaught/,
  /Stack backtrace/,
  /panicked at/,
  /Deno has panicked/,
];

const JS_ERRORS =
  /Cannot read properties|is not a function|is not defined|is not iterable|Maximum call stack|Invalid array length|Invalid string length|out of memory|\bTypeError\b|\bRangeError\b|\bReferenceError\b|\bSyntaxError\b/;

/** Options of {@linkcode runCase}. */
export interface RunCaseOptions {
  /** Where cases make their directories. */
  root: string;
  /** The files every case starts with. */
  template: FuzzTemplate;
  /** Kill the minion and call it a hang after this long, in ms. */
  timeoutMs: number;
  /** Keep the working directory. */
  keep: boolean;
}

/** Runs `fuzz` and checks every promise. */
export async function runCase(
  fuzz: FuzzCase,
  options: RunCaseOptions,
): Promise<FuzzResult> {
  const caseDir = `${options.root}/case-${fuzz.index}`;
  const dir = `${caseDir}/w`;
  await Deno.mkdir(dir, { recursive: true });
  await prepare(fuzz, dir, options.template);
  const problems: string[] = [];

  const env: Record<string, string> = {
    NO_COLOR: "1",
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    TMPDIR: `${dir}/tmp`,
    FUZZ_DIR: dir,
  };
  for (const name of ["DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CLI, ...fuzz.args],
    cwd: dir,
    clearEnv: true,
    env: { ...env, ...fuzz.env },
    stdin: fuzz.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The pipe's writer waits for its reader; it is no program of the case.
  const writer = fuzz.fifo === undefined ? undefined : new Deno.Command("sh", {
    args: ["-c", 'exec cat > "$0"', `${dir}/params.fifo`],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  if (writer) {
    const w = writer.stdin.getWriter();
    w.write(fuzz.fifo!).then(() => w.close()).catch(() => {});
  }
  if (fuzz.stdin !== undefined) {
    const w = child.stdin.getWriter();
    // The minion may leave without reading it all.
    w.write(fuzz.stdin).then(() => w.close()).catch(() => {});
  }
  const timers = fuzz.signals.map((s) =>
    setTimeout(() => {
      try {
        child.kill(s.name);
      } catch {
        // it has exited
      }
    }, s.afterMs)
  );
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // it has exited
    }
  }, options.timeoutMs);
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    collect(child.stdout),
    collect(child.stderr),
  ]);
  clearTimeout(watchdog);
  timers.forEach(clearTimeout);
  if (writer) {
    try {
      writer.kill("SIGKILL");
    } catch {
      // done
    }
    await writer.status;
  }
  const code = hung ? undefined : status.code;

  if (hung) problems.push(`did not end within ${options.timeoutMs} ms`);
  else if (![0, 1, 2, 130, 143].includes(status.code)) {
    problems.push(
      `exited ${status.code}${status.signal ? ` (${status.signal})` : ""}`,
    );
  }
  // status and top say once that they wait for the first report.
  const lines = stderr.split("\n").filter((l) =>
    l.trim() !== "" && !l.startsWith("minionize: waiting up to ")
  );
  if (code === 2) {
    // With --debug, the stack follows the line.
    const counted = fuzz.debug ? lines.slice(0, 1) : lines;
    if (counted.length !== 1 || !/^minionize: error: \S/.test(lines[0] ?? "")) {
      problems.push(`exit 2 without exactly one 'minionize: error:' line`);
    }
    if (stdout !== "") problems.push("exit 2 with output on stdout");
  }
  if (!fuzz.debug) {
    for (const pattern of STACK) {
      if (pattern.test(stderr)) problems.push(`a stack trace (${pattern})`);
    }
  }
  const errorLine = lines.find((l) => l.startsWith("minionize: error:"));
  if (errorLine !== undefined && JS_ERRORS.test(errorLine)) {
    problems.push(`an internal error: ${errorLine.slice(0, 300)}`);
  }

  // What ran, and what the sweep holds now.
  const ran = await Deno.readTextFile(`${dir}/ran.log`).catch(() => "");
  const sweepChanged = fuzz.sweep && [...options.template.sweep].some(
    ([name, bytes]) => {
      try {
        const now = Deno.readFileSync(`${dir}/sweeps/${name}`);
        return now.length !== bytes.length ||
          now.some((b, i) => b !== bytes[i]);
      } catch {
        return true;
      }
    },
  );
  if (code === 2 && ran !== "") problems.push("exit 2 after running a program");
  if (code === 2 && sweepChanged) {
    problems.push("exit 2 after changing the sweep");
  }
  if (code === 0 && switchedOn(fuzz, "--dry-run", "DRY")) {
    if (ran !== "") problems.push("a dry run ran a program");
    if (sweepChanged) problems.push("a dry run changed the sweep");
  }

  const shell = switchedOn(fuzz, "--shell", "MINION_SHELL", "shell");
  // Files: nothing outside the working directory and the outputs named.
  const allowed = [dir, ...fuzz.outputs.map((o) => resolve(dir, o.trim()))];
  for (const path of walk(caseDir)) {
    const name = path.slice(path.lastIndexOf("/") + 1);
    // PWNED6 is in the command itself: with --shell, the user asked for it.
    if (name.startsWith("PWNED") && !(name === "PWNED6" && shell)) {
      problems.push(
        `a param's shell syntax ran: ${path.slice(caseDir.length)}`,
      );
    }
    const inside = allowed.some((a) =>
      path === a || path.startsWith(`${a}/`) || a.startsWith(`${path}/`)
    );
    if (!inside) problems.push(`wrote outside: ${path.slice(caseDir.length)}`);
  }

  // Once it has left, nothing it started runs on, and no param file stays.
  if (code !== undefined) {
    let left = programsOf(dir);
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      left = programsOf(dir);
    }
    if (left.length > 0) problems.push(`programs still running: ${left}`);
    if (code === 0 || code === 1) {
      const stale = walk(`${dir}/tmp`).filter((p) =>
        p.includes("minion-param-")
      );
      if (stale.length > 0) problems.push(`param files left: ${stale.length}`);
    }
  } else {
    // A hang: stop whatever it left before the next case.
    for (const pid of programsOf(dir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }

  if (!options.keep && problems.length === 0) {
    await Deno.remove(caseDir, { recursive: true }).catch(() => {});
  }
  return { fuzz, code, stdout, stderr, problems, dir };
}

/** A case as text a human can replay by hand. */
export function describeCase(result: FuzzResult): string {
  const { fuzz } = result;
  const short = (text: string) =>
    text.length > 300
      ? `${text.slice(0, 300)}... (${text.length} chars)`
      : text;
  const files = Object.entries(fuzz.files).map(([name, content]) =>
    `  ${name}: ${
      short(JSON.stringify(
        typeof content === "string" ? content : decoder.decode(content),
      ))
    }`
  );
  return [
    `case ${fuzz.index}: ${result.problems.join("; ")}`,
    `  minionize ${short(JSON.stringify(fuzz.args))}`,
    `  env ${short(JSON.stringify(fuzz.env))}`,
    ...files,
    ...(fuzz.stdin
      ? [`  stdin: ${short(JSON.stringify(decoder.decode(fuzz.stdin)))}`]
      : []),
    ...(fuzz.fifo
      ? [`  fifo: ${short(JSON.stringify(decoder.decode(fuzz.fifo)))}`]
      : []),
    ...(fuzz.signals.length
      ? [`  signals ${JSON.stringify(fuzz.signals)}`]
      : []),
    `  exit ${result.code ?? "none (killed)"}; stderr: ${
      short(JSON.stringify(result.stderr))
    }`,
    `  kept in ${result.dir}`,
  ].join("\n");
}
