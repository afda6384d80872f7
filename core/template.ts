/**
 * How a param becomes a command line: appended to the user's command, or put
 * in place of its placeholders. Shared by every callback that runs a program
 * (processes and containers), so both follow one set of rules.
 *
 * No shell ever evaluates a param here: a string param is split into words
 * by shell quoting rules (Python's `shlex.split`, as the original tool did),
 * and everything else (`$(...)`, `;`, globs, redirections) stays plain text.
 *
 * @module
 */

import { quote, split } from "npm:shlex@3.0.0";
import type { JsonValue } from "./contracts.ts";
import { paramText } from "./param.ts";
import { shellScript } from "./shell_template.ts";

// `{}`, `{name}`, `{0}` and `{%}` (the slot, as in GNU parallel); anything
// else in braces is left alone, so that arguments such as `{a,b}` or JSON
// text pass through untouched.
const PLACEHOLDER = /\{\}|\{([A-Za-z_][A-Za-z0-9_.-]*|[0-9]+|%)\}/g;

/** Whether any argument of `template` holds a placeholder. */
export function hasPlaceholder(template: readonly string[]): boolean {
  return template.some((arg) => new RegExp(PLACEHOLDER).test(arg));
}

/**
 * The words a param adds when appended to a command: a string param is split
 * by shell quoting rules, a list gives one word per item, anything else its
 * JSON text.
 *
 * @throws {TypeError} when a string param has an unclosed quote
 */
export function paramWords(param: JsonValue): string[] {
  if (typeof param === "string") {
    try {
      return split(param);
    } catch (error) {
      throw new TypeError(
        `Cannot split param ${JSON.stringify(param)} into words: ${
          error instanceof Error ? error.message : error
        }; close the quote, or use {} to pass the param as one argument`,
      );
    }
  }
  if (Array.isArray(param)) return param.map(paramText);
  return [paramText(param)];
}

/**
 * The value a placeholder stands for.
 *
 * @throws {TypeError} when the param has no such field or item
 */
function lookup(
  param: JsonValue,
  key: string | undefined,
  slot: number,
): string {
  if (key === undefined) return paramText(param);
  if (key === "%") return String(slot);
  if (/^[0-9]+$/.test(key)) {
    if (Array.isArray(param) && Number(key) < param.length) {
      return paramText(param[Number(key)]!);
    }
    throw new TypeError(
      `Cannot fill {${key}}: the param ${
        JSON.stringify(param)
      } is not a list with an item ${key}`,
    );
  }
  if (
    param !== null && typeof param === "object" && !Array.isArray(param) &&
    Object.hasOwn(param, key)
  ) {
    return paramText(param[key]!);
  }
  throw new TypeError(
    `Cannot fill {${key}}: the param ${
      JSON.stringify(param)
    } has no field '${key}'`,
  );
}

/**
 * The argv to run for `param`.
 *
 * With placeholders (`{}`, `{name}`, `{0}`, and `{%}` for the slot), each is
 * replaced in place and nothing is appended, as GNU parallel does; without,
 * the param's words are appended. With `shell`, the template is one `sh -c`
 * script whose placeholders refer to positional parameters (`"${1}"`, ...;
 * `"$@"` for appended words), and the values follow it as arguments: the
 * shell never parses a value.
 *
 * @param template the user's command and arguments
 * @param param the param to run
 * @param shell whether the command runs through `sh -c`
 * @param slot the task's slot, 1 to the minion's concurrency, for `{%}`
 * @returns the argv, program first
 * @throws {TypeError} when a placeholder names a missing field or item
 */
export function buildArgv(
  template: readonly string[],
  param: JsonValue,
  shell = false,
  slot = 1,
): string[] {
  const fill = (arg: string, wrap: (value: string) => string) =>
    arg.replace(
      PLACEHOLDER,
      (_m, key?: string) => wrap(lookup(param, key, slot)),
    );
  if (shell) {
    // The values go to sh as positional parameters, never into the script
    // text, so no quote of the user's can be closed by a value.
    if (!hasPlaceholder(template)) {
      return [
        "sh",
        "-c",
        `${template.join(" ")} "$@"`,
        "sh",
        ...paramWords(param),
      ];
    }
    const { script, values } = shellScript(
      template.join(" "),
      PLACEHOLDER,
      (match) => lookup(param, match[1], slot),
    );
    return ["sh", "-c", script, "sh", ...values];
  }
  if (hasPlaceholder(template)) {
    return template.map((arg) => fill(arg, (value) => value));
  }
  return [...template, ...paramWords(param)];
}

/** An argv as one line a shell would read back the same, for display. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((arg) => /^[\w@%+=:,./-]+$/.test(arg) ? arg : quote(arg))
    .join(" ");
}
