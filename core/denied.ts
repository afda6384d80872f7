/**
 * Permissions Deno refused, reported as what they are. A minion run with
 * narrow `--allow-*` flags meets `Deno.errors.NotCapable` where it reads,
 * writes, connects, spawns or asks the host name; the fix is then a flag,
 * not "make the directory writable" or "check the program's name".
 *
 * @module
 */

import { absolutePath } from "./path.ts";

/** A permission Deno refused. */
export interface Denial {
  /** `read`, `write`, `net`, `env`, `sys`, `run`, ... */
  kind: string;
  /** What was asked for (a path, `host:port`, a variable, ...), if named. */
  target: string | undefined;
  /** The flag that grants it, e.g. `--allow-write=/data/out`. */
  flag: string;
}

const REQUIRES = /Requires (\w+) access(?: to "((?:[^"\\]|\\.)*)")?/;

/**
 * The permission Deno refused in `error` or one of its causes, or
 * `undefined` when it is another kind of error.
 */
export function denial(error: unknown): Denial | undefined {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof Deno.errors.NotCapable) {
      const match = REQUIRES.exec(current.message);
      if (!match) return { kind: "some", target: undefined, flag: "-A" };
      const kind = match[1]!;
      const target = match[2];
      return { kind, target, flag: flagFor(kind, target) };
    }
    current = current.cause;
  }
  return undefined;
}

/** The flag granting `kind` access to `target`, paths made absolute. */
export function flagFor(kind: string, target?: string): string {
  if (target === undefined || kind === "env") return `--allow-${kind}`;
  const value = kind === "read" || kind === "write"
    ? absolutePath(target)
    : target;
  return `--allow-${kind}=${value}`;
}

/** Where every flag of a setup is listed. */
export const PERMISSIONS_HINT =
  "`minionize permissions` prints every flag these settings need";

/**
 * The end of a one-line error about `error`: for a permission Deno refused,
 * what it refused and the flag that grants it; otherwise the error's own
 * message and `fix`.
 *
 * @param error what was thrown
 * @param fix what to do about any other error, e.g. `give a writable directory`
 */
export function explain(error: unknown, fix: string): string {
  const refused = denial(error);
  if (refused) return deniedText(refused);
  const text = error instanceof Error ? error.message : String(error);
  return `${text}; ${fix}`;
}

/** `Deno denied ... access to '...': run with ...`. */
export function deniedText(refused: Denial): string {
  const what = refused.target === undefined
    ? `${refused.kind} access`
    : `${refused.kind} access to '${refused.target}'`;
  return `Deno denied ${what}: run with ${refused.flag} (${PERMISSIONS_HINT})`;
}
