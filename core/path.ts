/**
 * Finding programs the way a shell does, before anything is taken from the
 * queue, so that a typo fails with a clear message instead of failing every
 * param.
 *
 * @module
 */

async function executable(candidate: string): Promise<boolean> {
  try {
    const info = await Deno.stat(candidate);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return false;
  }
}

/**
 * Where `program` is: itself when it holds a `/` and is an executable file,
 * else the first executable `DIR/program` for DIR in `path` (an empty entry
 * means the current directory).
 *
 * Needs `--allow-read` of the program's path: a place Deno refuses to look
 * at is passed over, so read access to the program itself is enough.
 *
 * @param program a name or a path
 * @param path a colon-separated list of directories, as in `PATH`
 * @returns the path found, or `undefined`
 * @throws {Deno.errors.NotCapable} when it is found nowhere and Deno refused
 * to look somewhere: it may be there
 */
export async function findExecutable(
  program: string,
  path: string | undefined,
): Promise<string | undefined> {
  const candidates = program.includes("/")
    ? [program]
    : (path ?? "").split(":").map((dir) => `${dir || "."}/${program}`);
  let refused: unknown;
  for (const candidate of candidates) {
    try {
      if (await executable(candidate)) return candidate;
    } catch (error) {
      refused ??= error;
    }
  }
  if (refused !== undefined) throw refused;
  return undefined;
}

/**
 * `path` made absolute against `cwd`, with `.` and `..` resolved, as Node's
 * `path.resolve(path)` gives it, without loading Node's modules (which adds
 * about as much to a minion's start as Deno's own start-up).
 *
 * Needs `--allow-read` for the working directory when `cwd` is not given.
 *
 * @param path an absolute or relative path
 * @param cwd the directory a relative path is in @default {Deno.cwd()}
 * @returns the absolute path, without a trailing `/`
 *
 * @example
 * ```ts
 * import { absolutePath } from "./path.ts";
 *
 * if (absolutePath("../b/./c", "/x/a") !== "/x/b/c") throw new Error("no");
 * ```
 */
export function absolutePath(path: string, cwd?: string): string {
  const full = path.startsWith("/") ? path : `${cwd ?? Deno.cwd()}/${path}`;
  const parts: string[] = [];
  for (const part of full.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}
