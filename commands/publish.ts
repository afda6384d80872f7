/**
 * `minionize publish [OPTIONS] [FILE]`: puts params onto the queue of an
 * engine, from the lines of FILE (or standard input) or from the product of
 * `--param` options, the way `minionize sweep create` builds a sweep.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { formatOptions, type OptionSpec, parseArgs } from "./_args.ts";
import type { Env, JsonValue, LineFormat } from "../core/contracts.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { openParamSource, readParamLines } from "./_param_lines.ts";
import { parseParamOptions, product } from "./_product.ts";
import { ENGINES } from "../runner/registry.ts";

/** The options of the publish command. */
export const PUBLISH_OPTIONS: readonly OptionSpec[] = [
  {
    long: "--engine",
    value: "NAME",
    variable: "MINION_ENGINE",
    help: `queue to put params onto: ${
      Object.keys(ENGINES).join(", ")
    } (default execo)`,
  },
  {
    long: "--param",
    value: "NAME=V1,V2",
    help:
      "publish every combination of these levels (repeat for more parameters)",
  },
  { long: "--json", help: "each line is a JSON value (an error otherwise)" },
  { long: "--lines", help: "each line is a text param, as written" },
  {
    long: "--create",
    help: "create the queue (topic, subscription, ...) when it does not exist",
  },
  { long: "--debug", help: "print stack traces of errors" },
  { long: "--help", short: "-h", help: "show this help" },
];

/** The help text of the publish command. */
export function publishHelp(): string {
  return `Usage: minionize publish [OPTIONS] [FILE]
       minionize publish [OPTIONS] --param NAME=V1,V2 [--param ...]

Puts params onto a queue: one per non-blank line of FILE (standard input
when FILE is absent or -), or one per combination of the --param levels.
Lines are read the way the engine's minions will: JSON values under a json
decoder (e.g. GOOGLE_DECODER=json), text under identity; for execo a line
that reads as JSON is that value, any other line text. --json or --lines
says it outright; with --json nothing is published when a line is not JSON.

Options (each also read from the variable in brackets, or from .env):
${formatOptions(PUBLISH_OPTIONS)}`;
}

/** Takes the repeatable `--param` options out of `args`. */
function takeParams(args: readonly string[]): {
  params: string[];
  others: string[];
} {
  const params: string[] = [];
  const others: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === "--") {
      others.push(...args.slice(index));
      break;
    }
    if (arg === "--param") {
      const value = args[index + 1];
      if (value === undefined) {
        throw new ConfigError(
          "--param",
          "option '--param' needs a value (NAME=V1,V2); e.g. --param size=10,100",
        );
      }
      params.push(value);
      index++;
    } else if (arg.startsWith("--param=")) {
      params.push(arg.slice("--param=".length));
    } else others.push(arg);
  }
  return { params, others };
}

function engineName(env: Env): string {
  const engine = env.MINION_ENGINE?.trim() || "execo";
  if (engine in ENGINES) return engine;
  throw new ConfigError(
    "MINION_ENGINE",
    `Cannot publish: MINION_ENGINE (--engine) is '${engine}': expected one of ${
      Object.keys(ENGINES).join(", ")
    }`,
  );
}

async function readInput(
  source: string,
  format: LineFormat,
): Promise<JsonValue[]> {
  const stream = await openParamSource(
    source,
    "give a readable file of params, or - for standard input",
  );
  return await readParamLines(stream, source, format, {
    variable: "FILE",
    prefix: "Cannot publish: ",
    fix: "pass --lines to publish each line as text",
  });
}

async function* iterate(values: JsonValue[]): AsyncIterable<JsonValue> {
  yield* values;
}

/**
 * Runs the publish command with `args` and resolves to its exit status.
 *
 * @throws {ConfigError} on bad options, input or engine settings
 */
export async function publish(args: readonly string[]): Promise<number> {
  const { params: paramOptions, others } = takeParams(args);
  const { variables, flags, rest } = parseArgs(
    others,
    PUBLISH_OPTIONS,
    "minionize publish",
  );
  if (flags.has("--help")) {
    console.log(publishHelp());
    return 0;
  }
  if (flags.has("--json") && flags.has("--lines")) {
    throw new ConfigError(
      "--json",
      "--json and --lines contradict each other: give one",
    );
  }
  if (rest.length > 1) {
    throw new ConfigError(
      "FILE",
      `Cannot publish: expected at most one FILE, got ${
        rest.map((word) => `'${word}'`).join(" ")
      }`,
    );
  }
  if (paramOptions.length > 0 && rest.length > 0) {
    throw new ConfigError(
      "--param",
      `Cannot publish both --param combinations and the lines of '${
        rest[0]
      }': give one`,
    );
  }
  const env = { ...(await loadEnv()), ...variables };
  const engine = engineName(env);
  const plugin = await ENGINES[engine]!();
  if (!plugin.publish) {
    throw new ConfigError(
      "MINION_ENGINE",
      `Cannot publish: engine '${engine}' takes no params from minionize publish; fill its queue with its own tools`,
    );
  }
  const format: LineFormat = flags.has("--json")
    ? "json"
    : flags.has("--lines")
    ? "lines"
    : plugin.lineFormat?.(env) ?? "auto";
  const params = paramOptions.length > 0
    ? product(parseParamOptions(paramOptions))
    : await readInput(rest[0] ?? "-", format);
  const count = await plugin.publish(iterate(params), {
    env,
    create: flags.has("--create"),
    warn: (message) => console.error(`minionize: warning: ${message}`),
  });
  console.error(
    `minionize: published ${count} param${
      count === 1 ? "" : "s"
    } (engine ${engine})`,
  );
  return 0;
}
