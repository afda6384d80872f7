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
