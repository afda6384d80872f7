/**
 * Command-line options. Options come before the program: the first word that
 * is not an option, or whatever follows `--`, starts the command to run, so
 * the program's own options are never taken for ours. Each option that
 * stands for a variable is returned as that variable, so flags, environment
 * and `.env` share one parser and one set of messages.
 *
 * @module
 */

import { quote } from "npm:shlex@3.0.0";
import { ConfigError } from "../core/errors.ts";
import type { OptionSpec } from "../core/options.ts";

export type { OptionSpec };

/** What a command line says. */
export interface ParsedArgs {
  /** Values of options that stand for variables. */
  variables: Record<string, string>;
  /** Options given that stand for no variable (`--help`, `--json`, ...), with their values. */
  flags: Map<string, string>;
  /** The words after the options. */
  rest: string[];
}

/**
 * Parses `args` against `specs`, stopping at the first word that is not an
 * option (or after `--`).
 *
 * @throws {ConfigError} for an unknown option or a missing value
 */
export function parseArgs(
  args: readonly string[],
  specs: readonly OptionSpec[],
  command = "minionize",
): ParsedArgs {
  const variables: Record<string, string> = {};
  const flags = new Map<string, string>();
  let index = 0;
  while (index < args.length) {
    const arg = args[index]!;
    if (arg === "--") {
      index++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    let name = arg;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 0) [name, inline] = [arg.slice(0, eq), arg.slice(eq + 1)];
    } else if (arg.length > 2) {
      [name, inline] = [arg.slice(0, 2), arg.slice(2)];
    }
    const spec = specs.find((s) => s.long === name || s.short === name);
    if (!spec) {
      throw new ConfigError(
        name,
        `unknown option '${name}'; see '${command} --help' (put the program after the options, or after --)`,
      );
    }
    let value = "1";
    if (spec.value !== undefined) {
      if (inline !== undefined) value = inline;
      else if (index + 1 < args.length) value = args[++index]!;
      else {
        throw new ConfigError(
          spec.long,
          `option '${spec.long}' needs a value (${spec.value}); e.g. ${spec.long} ${spec.value}`,
        );
      }
    } else if (inline !== undefined) {
      throw new ConfigError(spec.long, `option '${spec.long}' takes no value`);
    }
    if (spec.value !== undefined && value.trim() === "") {
      // An empty word would otherwise read as "unset" and fall back to the
      // default without a word: `-j ''` is a mistake, not a request for 1.
      throw new ConfigError(
        spec.long,
        `option '${name}' is given an empty value; give ${spec.value}, e.g. ${spec.long} ${spec.value}`,
      );
    }
    if (spec.variable && spec.repeatable) {
      const before = variables[spec.variable];
      variables[spec.variable] = before === undefined
        ? quote(value)
        : `${before} ${quote(value)}`;
    } else if (spec.variable) variables[spec.variable] = value;
    else flags.set(spec.long, value);
    index++;
  }
  return { variables, flags, rest: args.slice(index) };
}

/** The options block of a help text. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const left = specs.map((s) =>
    `${s.short ? `${s.short}, ` : "    "}${s.long}${
      s.value ? ` ${s.value}` : ""
    }`
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return specs.map((s, i) =>
    `  ${left[i]!.padEnd(width)}${s.help}${
      s.variable ? ` [${s.variable}]` : ""
    }`
  ).join("\n");
}

/**
 * Refuses operands where a command takes none.
 *
 * @throws {ConfigError} naming the first operand and where the usage is
 */
export function noOperands(rest: readonly string[], command: string): void {
  if (rest.length > 0) {
    throw new ConfigError(
      rest[0]!,
      `unexpected argument '${rest[0]}'; see 'minionize ${command} --help'`,
    );
  }
}
