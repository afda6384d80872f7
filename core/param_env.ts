/**
 * How a program is given its param besides argv: `MINION_PARAM` holds it as
 * JSON, unless that JSON is over {@linkcode PARAM_ENV_LIMIT}: Linux refuses
 * to start a program with one environment string over 128 KiB (`E2BIG`), so
 * a bigger param would never run, even by a command that only uses `{id}`.
 * Such a param is written to a file instead, named by `MINION_PARAM_FILE`,
 * and `MINION_PARAM` is then not set at all. Exactly one of the two is set.
 * The file is removed once the program has exited.
 *
 * @module
 */

import type { JsonValue } from "./contracts.ts";

/** The largest param JSON, in UTF-8 bytes, passed in `MINION_PARAM`: 64 KiB. */
export const PARAM_ENV_LIMIT = 64 * 1024;

/** How one run gets its param. */
export interface ParamHandoff {
  /** `MINION_PARAM`, or `MINION_PARAM_FILE` for a big param. */
  variables: Record<string, string>;
  /** The variable of the two that is not set, to keep a parent's out. */
  unset: string;
  /** The file holding a big param, if one was written. */
  file: string | undefined;
  /** Removes the file, if any. */
  dispose(): Promise<void>;
}

const encoder = new TextEncoder();

/** Whether `param`'s JSON is too big for `MINION_PARAM`. */
export function isBigParam(param: JsonValue): boolean {
  return isBigJson(JSON.stringify(param));
}

function isBigJson(json: string): boolean {
  // A UTF-16 unit is at most 3 bytes of UTF-8: most params are told apart
  // without encoding them.
  return json.length * 3 > PARAM_ENV_LIMIT &&
    encoder.encode(json).length > PARAM_ENV_LIMIT;
}

/**
 * The variables that give `param` to a program, writing it to a temporary
 * file (in `TMPDIR`) when its JSON is over {@linkcode PARAM_ENV_LIMIT}.
 *
 * Needs `--allow-write` for a big param.
 */
export async function handOffParam(param: JsonValue): Promise<ParamHandoff> {
  const json = JSON.stringify(param);
  if (!isBigJson(json)) {
    return {
      variables: { MINION_PARAM: json },
      unset: "MINION_PARAM_FILE",
      file: undefined,
      dispose: () => Promise.resolve(),
    };
  }
  const file = await Deno.makeTempFile({
    prefix: "minion-param-",
    suffix: ".json",
  });
  await Deno.writeTextFile(file, json);
  return {
    variables: { MINION_PARAM_FILE: file },
    unset: "MINION_PARAM",
    file,
    async dispose() {
      await Deno.remove(file).catch(() => {});
    },
  };
}

/**
 * The environment options of a `Deno.Command` that runs a program with
 * `variables` added, and the variable of `handoff` that must not be set
 * kept out even when the minion itself has it (a minion run by a minion).
 */
export function programEnv(
  handoff: ParamHandoff,
  variables: Record<string, string>,
): { env: Record<string, string>; clearEnv?: true } {
  const env = { ...handoff.variables, ...variables };
  if (Deno.env.get(handoff.unset) === undefined) return { env };
  const inherited = Deno.env.toObject();
  delete inherited[handoff.unset];
  return { env: { ...inherited, ...env }, clearEnv: true };
}
