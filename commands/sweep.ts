/**
 * `minionize sweep SUBCOMMAND`: create, fill, inspect and reset the sweep of
 * the `execo` engine (the directory `EXECO_PERSISTENCE_DIR`, or `--dir`).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import {
  formatOptions,
  noOperands,
  type OptionSpec,
  parseArgs,
} from "./_args.ts";
import type { Env, JsonValue } from "../core/contracts.ts";
import { loadEnv } from "../runner/dotenv.ts";
import { ConfigError } from "../core/errors.ts";
import { openParamSource, readParamLines } from "./_param_lines.ts";
import { parseParamOptions, product } from "./_product.ts";
import { execoSettings } from "../engines/execo/mod.ts";
import { doctor, DOCTOR_OPTIONS, DOCTOR_USAGE } from "./sweep_doctor.ts";
import { CLAIMED, FAILED, TODO } from "../engines/execo/param_state.ts";
import {
  addParams,
  createSweep,
  idsWithStatus,
  type OpenSweep,
  openSweep,
  sweepConfigError,
} from "../engines/execo/sweep.ts";
import { convert, CONVERT_OPTIONS, CONVERT_USAGE } from "./sweep_convert.ts";
import { list, status } from "./sweep_status.ts";

const DIR_OPTION: OptionSpec = {
  long: "--dir",
  value: "DIR",
  variable: "EXECO_PERSISTENCE_DIR",
  help: "the sweep's directory (default sweeps)",
};
const HELP_OPTION: OptionSpec = {
  long: "--help",
  short: "-h",
  help: "show this help",
};
const INPUT_OPTIONS: readonly OptionSpec[] = [
  DIR_OPTION,
  {
    long: "--param",
    value: "NAME=V1,V2,...",
    help:
      "a parameter and its levels (repeat it): the params are every combination, as execo's sweep()",
  },
  {
    long: "--json",
    help:
      "each input line must be a JSON value (default: JSON if it parses, else text)",
  },
  { long: "--lines", help: "each input line is a string param, as it is" },
  HELP_OPTION,
];
const SUBCOMMANDS: Record<
  string,
  {
    options: readonly OptionSpec[];
    usage: string;
    run: (
      dir: string,
      env: Env,
      flags: Map<string, string>,
      rest: string[],
      params: string[],
    ) => Promise<number>;
  }
> = {
  create: {
    options: INPUT_OPTIONS,
    usage: "create [OPTIONS] [FILE|-]   new sweep from lines or --param",
    run: create,
  },
  add: {
    options: INPUT_OPTIONS,
    usage:
      "add [OPTIONS] [FILE|-]      add params (those present stay as they are)",
    run: add,
  },
  status: {
    options: [
      DIR_OPTION,
      { long: "--json", help: "print one JSON object" },
      HELP_OPTION,
    ],
    usage: "status [--json]             counts, and who holds what since when",
    run: status,
  },
  list: {
    options: [
      DIR_OPTION,
      { long: "--todo", help: "params still to do" },
      { long: "--in-progress", help: "params claimed by a minion" },
      { long: "--done", help: "params done" },
      { long: "--failed", help: "params failed for good" },
      HELP_OPTION,
    ],
    usage: "list [--todo|--done|...]    params as JSON lines (all by default)",
    run: list,
  },
  reset: {
    options: [
      DIR_OPTION,
      { long: "--failed", help: "failed params go back to todo" },
      {
        long: "--in-progress",
        help:
          "claimed params go back to todo (their minions' later acks still count)",
      },
      HELP_OPTION,
    ],
    usage: "reset --failed|--in-progress  put params back to todo",
    run: reset,
  },
  convert: {
    options: [DIR_OPTION, ...CONVERT_OPTIONS, HELP_OPTION],
    usage: CONVERT_USAGE,
    run: convert,
  },
  doctor: {
    options: [DIR_OPTION, ...DOCTOR_OPTIONS, HELP_OPTION],
    usage: DOCTOR_USAGE,
    run: doctor,
  },
};

/** The help text of `minionize sweep`. */
export function sweepHelp(): string {
  const lines = Object.values(SUBCOMMANDS).map((s) =>
    `  minionize sweep ${s.usage}`
  );
  return `Usage:
${lines.join("\n")}

The sweep of the execo engine: a directory (EXECO_PERSISTENCE_DIR, default
sweeps) holding a set of params, each todo, in progress, done or failed.
Input lines are JSON values (a line that is not JSON is a string) unless
--json or --lines say otherwise; blank lines are skipped.
See 'minionize sweep SUBCOMMAND --help'.`;
}

/** Pulls the repeatable `--param` options out of `args`. */
function takeParams(args: readonly string[]): {
  params: string[];
  others: string[];
} {
  const params: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      others.push(...args.slice(i));
      break;
    }
    if (arg === "--param") {
      if (i + 1 >= args.length) {
        throw new ConfigError(
          "--param",
          "option '--param' needs a value (NAME=V1,V2,...); e.g. --param size=10,100",
        );
      }
      params.push(args[++i]!);
    } else if (arg.startsWith("--param=")) {
      params.push(arg.slice("--param=".length));
    } else others.push(arg);
  }
  return { params, others };
}

/**
 * Runs `minionize sweep ARGS...` and resolves to the exit status.
 *
 * @throws {ConfigError} on bad options, bad input or an unusable directory
 */
export async function sweep(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(sweepHelp());
    return name === undefined ? 2 : 0;
  }
  const subcommand = SUBCOMMANDS[name];
  if (!subcommand) {
    throw new ConfigError(
      "sweep",
      `unknown sweep subcommand '${name}': expected one of ${
        Object.keys(SUBCOMMANDS).join(", ")
      }`,
    );
  }
  const { params, others } = takeParams(rest);
  const parsed = parseArgs(
    others,
    subcommand.options,
    `minionize sweep ${name}`,
  );
  if (parsed.flags.has("--help")) {
    console.log(
      `Usage: minionize sweep ${subcommand.usage}\n\nOptions:\n${
        formatOptions(subcommand.options)
      }`,
    );
    return 0;
  }
  if (params.length > 0 && subcommand.options !== INPUT_OPTIONS) {
    throw new ConfigError(
      "--param",
      `option '--param' is for 'sweep create' and 'sweep add' only`,
    );
  }
  const env = { ...(await loadEnv()), ...parsed.variables };
  const { dir } = execoSettings(env);
  try {
    return await subcommand.run(dir, env, parsed.flags, parsed.rest, params);
  } catch (error) {
    throw sweepConfigError(error, "EXECO_PERSISTENCE_DIR", dir);
  }
}

/** The params the input options describe, all read before anything is written. */
async function readInput(
  flags: Map<string, string>,
  rest: string[],
  params: string[],
): Promise<JsonValue[]> {
  if (flags.has("--json") && flags.has("--lines")) {
    throw new ConfigError("--json", "give --json or --lines, not both");
  }
  if (rest.length > 1) {
    throw new ConfigError(
      "FILE",
      `one input file at most, got ${rest.length}: ${rest.join(" ")}`,
    );
  }
  if (params.length > 0) {
    if (rest.length > 0) {
      throw new ConfigError(
        "--param",
        "give params either with --param or from a file, not both",
      );
    }
    return product(parseParamOptions(params));
  }
  const source = rest[0] ?? "-";
  if (source === "-" && Deno.stdin.isTerminal()) {
    throw new ConfigError(
      "FILE",
      "no params given: pipe lines in, give a FILE, or use --param NAME=V1,V2,...",
    );
  }
  const stream = await openParamSource(
    source,
    "give a readable file, or - for standard input",
  );
  const format = flags.has("--json")
    ? "json"
    : flags.has("--lines")
    ? "lines"
    : "auto";
  return await readParamLines(stream, source, format, {
    variable: "--json",
    prefix: "",
    fix: "drop --json to take such lines as text",
  });
}

async function create(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
  params: string[],
): Promise<number> {
  const input = await readInput(flags, rest, params);
  const { store, count } = await createSweep(dir, input, env);
  store.close();
  console.log(`created the sweep ${dir} with ${count} params`);
  return 0;
}

async function withSweep<T>(
  dir: string,
  env: Env,
  use: (store: OpenSweep) => Promise<T>,
): Promise<T> {
  const store = await openSweep(dir, {
    leaseMs: execoSettings(env).leaseMs,
    env,
    warn: (message) => console.error(`minionize: warning: ${message}`),
  });
  try {
    return await use(store);
  } finally {
    store.close();
  }
}

async function add(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
  params: string[],
): Promise<number> {
  const input = await readInput(flags, rest, params);
  const added = await withSweep(dir, env, (store) => addParams(store, input));
  console.log(
    `added ${added} params to ${dir} (${
      input.length - added
    } were there already)`,
  );
  return 0;
}

async function reset(
  dir: string,
  env: Env,
  flags: Map<string, string>,
  rest: string[],
): Promise<number> {
  noOperands(rest, "sweep");
  const failed = flags.has("--failed");
  const inProgress = flags.has("--in-progress");
  if (!failed && !inProgress) {
    throw new ConfigError(
      "reset",
      "say what to reset: --failed, --in-progress, or both",
    );
  }
  const count = await withSweep(
    dir,
    env,
    async (store) =>
      (await store.transact((tx) => {
        let count = 0;
        const { state } = tx;
        const ids = idsWithStatus(
          state,
          new Set([
            ...(failed ? [FAILED] : []),
            ...(inProgress ? [CLAIMED] : []),
          ]),
        );
        for (const id of ids) {
          // A failed param starts over; a claimed one keeps its attempts.
          const attempts = state.status[id] === FAILED
            ? 0
            : state.attempts[id]!;
          tx.append("s", id, { st: TODO, a: attempts });
          count++;
        }
        return count;
      }, { sync: true }))!,
  );
  console.log(`put ${count} params of ${dir} back to todo`);
  return 0;
}
