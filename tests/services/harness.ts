/**
 * Brings real servers up for tests: each on a free loopback port owned by
 * the test run, its process group stopped afterwards, its log kept under
 * `.cache/logs/` for when a test fails.
 *
 * A missing server is a failure under CI (`CI=true`) and a skip elsewhere,
 * with the command that installs it. Each server has its own file beside
 * this one (`redis.ts`, `pstest.ts`, ...) and its installer in `install/`.
 *
 * @module
 */

const IN_CI = Deno.env.get("CI") === "true";

/** The repository's root (tests/services/ is two levels down). */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** Where built servers, downloaded jars and logs are cached (git-ignored). */
export const CACHE = `${ROOT}.cache`;

/** A server a test can use. */
export interface RunningService {
  /** Variables that point an engine at it, e.g. `{ REDIS_URL: ... }`. */
  env: Record<string, string>;
  /** Stops it and everything it started. */
  stop(): Promise<void>;
}

/**
 * Whether `command` can run here (on PATH or a path). Under CI a missing
 * command throws, naming the installer; elsewhere it prints why the tests
 * that need it are skipped.
 */
export function available(command: string, install: string): boolean {
  const found = command.includes("/")
    ? exists(command)
    : (Deno.env.get("PATH") ?? "").split(":").some((dir) =>
      exists(`${dir}/${command}`)
    );
  if (found) return true;
  const message = `${command} is not installed: run '${install}'`;
  if (IN_CI) {
    throw new Error(`${message} (CI must test against the real server)`);
  }
  // deno-lint-ignore no-console
  console.warn(`skipping tests that need ${command}: ${message}`);
  return false;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Resolves once `check` returns true; throws after `timeoutMs`, with what
 * `explain` says about the state it gave up on (a timeout that only says
 * "not ready" leaves the next reader guessing).
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  explain?: () => Promise<string> | string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not ready yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let seen = "";
  if (explain !== undefined) {
    seen = await Promise.resolve().then(explain).then(
      (text) => `; last seen: ${text}`,
      (e) => `; and explaining it failed: ${e}`,
    );
  }
  throw new Error(`${what} was not ready after ${timeoutMs / 1000}s${seen}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** A server process started by {@linkcode spawnServer}. */
export interface ServerProcess {
  readonly child: Deno.ChildProcess;
  /** Where its output goes. */
  readonly log: string;
  /** TERM to its process group, KILL after `graceMs`; resolves when it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a server in a process group of its own, its output in
 * `.cache/logs/NAME-PORT.log`.
 */
export async function spawnServer(
  name: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ServerProcess> {
  await Deno.mkdir(`${CACHE}/logs`, { recursive: true });
  const log = `${CACHE}/logs/${name}-${Date.now()}.log`;
  await Deno.writeTextFile(log, "");
  const file = await Deno.open(log, { append: true });
  const child = new Deno.Command(command, {
    args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  // Written chunk by chunk as it comes (a stream piped into the file showed
  // nothing until the server exited), from both streams into one handle.
  const copy = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      for (let at = 0; at < chunk.length;) {
        at += await file.write(chunk.subarray(at));
      }
    }
  };
  const done = Promise.all([copy(child.stdout), copy(child.stderr)])
    .catch(() => {}).finally(() => file.close());
  const kill = (signal: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  return {
    child,
    log,
    async stop(graceMs = 10_000) {
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), graceMs);
      await child.status;
      clearTimeout(timer);
      kill("SIGKILL"); // whatever it left behind in its group
      await done;
    },
  };
}

/** The last lines of a server's log, for failure messages. */
export async function tail(log: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(log)).split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
