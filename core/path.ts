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
  } catch {
    return false;
  }
}

/**
 * Where `program` is: itself when it holds a `/` and is an executable file,
 * else the first executable `DIR/program` for DIR in `path` (an empty entry
 * means the current directory).
 *
 * Needs `--allow-read`.
 *
 * @param program a name or a path
 * @param path a colon-separated list of directories, as in `PATH`
 * @returns the path found, or `undefined`
 */
export async function findExecutable(
  program: string,
  path: string | undefined,
): Promise<string | undefined> {
  if (program.includes("/")) {
    return await executable(program) ? program : undefined;
  }
  for (const dir of (path ?? "").split(":")) {
    const candidate = `${dir || "."}/${program}`;
    if (await executable(candidate)) return candidate;
  }
  return undefined;
}
