/**
 * Every key of `.minionize.yml`: the variable it stands for, the schema its
 * value must pass, and the words that say what is allowed when it does not.
 * Numeric keys take their ranges from `core/limits.ts`, so a key and its
 * variable accept the same values.
 *
 * @module
 */

import * as v from "npm:valibot@1.5.0";
import { describeRange, RANGES } from "../core/limits.ts";
import { ENGINES, REPORTERS } from "./registry.ts";
import { parseStatsAddress } from "./stats_server.ts";
import { quote } from "npm:shlex@3.0.0";
import { CONTAINER_RUNTIMES } from "../callbacks/container.ts";
import { parseDuration } from "../core/walltime.ts";

/** What one key of the project file is and allows. */
export interface ProjectKey {
  /** The variable the key stands for, if any. */
  variable?: string;
  schema: v.GenericSchema;
  /** What is allowed, for messages. */
  allowed: string;
  /** The variable's text for a valid value. @default {String(value)} */
  text?: (value: unknown) => string;
}

const VARIABLE_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** A numeric key, checked against its variable's range (`core/limits.ts`). */
function _numberKey(variable: string, example: string): ProjectKey {
  const range = RANGES[variable]!;
  const base = range.integer ? v.pipe(v.number(), v.integer()) : v.number();
  return {
    variable,
    schema: v.pipe(base, v.minValue(range.min), v.maxValue(range.max)),
    allowed: `${describeRange(range)}, e.g. ${example}`,
  };
}

const validAddress = (value: string | number) => {
  try {
    parseStatsAddress(String(value));
    return true;
  } catch {
    return false;
  }
};

/** Every key of `.minionize.yml`, with its variable and what it allows. */
export const PROJECT_KEYS: Readonly<Record<string, ProjectKey>> = {
  command: {
    schema: v.union([
      v.pipe(v.string(), v.minLength(1)),
      v.pipe(v.array(v.string()), v.minLength(1)),
    ]),
    allowed:
      "the program and its arguments, as one string split by shell rules or a list of strings, e.g. command: python train.py --lr {lr}",
  },
  engine: {
    variable: "MINION_ENGINE",
    schema: v.pipe(v.string(), v.check((name) => name in ENGINES)),
    allowed: `one of ${Object.keys(ENGINES).join(", ")}`,
  },
  concurrency: _numberKey("MINION_CONCURRENCY", "concurrency: 4"),
  gpus_per_task: _numberKey("MINION_GPUS_PER_TASK", "gpus_per_task: 1"),
  cpus_per_task: _numberKey("MINION_CPUS_PER_TASK", "cpus_per_task: 8"),
  retries: _numberKey("MINION_RETRIES", "retries: 2"),
  timeout: _numberKey("MINION_TIMEOUT", "timeout: 3600"),
  grace: _numberKey("MINION_GRACE", "grace: 10"),
  max_params: _numberKey("MINION_MAX_PARAMS", "max_params: 100"),
  idle_exit: _numberKey("MINION_IDLE_EXIT", "idle_exit: 60"),
  shell: {
    variable: "MINION_SHELL",
    schema: v.boolean(),
    allowed: "true or false",
  },
  results: {
    variable: "MINION_RESULTS",
    schema: v.pipe(v.string(), v.minLength(1)),
    allowed: "a directory, e.g. results: out",
  },
  reporter: {
    variable: "MINION_REPORTER",
    schema: v.picklist(Object.keys(REPORTERS)),
    allowed: `one of ${Object.keys(REPORTERS).join(", ")}`,
  },
  stats: {
    variable: "MINION_STATS",
    schema: v.pipe(
      v.union([v.pipe(v.number(), v.integer()), v.string()]),
      v.check(validAddress),
    ),
    allowed:
      "a port (bound to 127.0.0.1), HOST:PORT or :PORT for every interface, e.g. stats: 9100",
  },
  bar: {
    variable: "MINION_BAR",
    schema: v.boolean(),
    allowed: "true or false",
  },
  container: {
    variable: "MINION_CONTAINER_IMAGE",
    schema: v.pipe(v.string(), v.minLength(1)),
    allowed: "a container image, e.g. container: docker.io/library/python:3",
  },
  container_runtime: {
    variable: "MINION_CONTAINER_RUNTIME",
    schema: v.picklist(CONTAINER_RUNTIMES),
    allowed: `one of ${CONTAINER_RUNTIMES.join(", ")}`,
  },
  container_opts: {
    variable: "MINION_CONTAINER_OPTS",
    schema: v.union([v.string(), v.array(v.string())]),
    allowed:
      "options of the runtime's run command: a list of words, or one string split by shell rules, e.g. container_opts: [-v, /data:/data]",
    // Each word of a list stays whole, as with repeated --container-opt.
    text: (value) =>
      Array.isArray(value) ? value.map((w) => quote(w)).join(" ") : `${value}`,
  },
  walltime: {
    variable: "MINION_WALLTIME",
    schema: v.union([
      v.pipe(
        v.number(),
        v.minValue(RANGES.MINION_WALLTIME!.min),
        v.maxValue(RANGES.MINION_WALLTIME!.max),
      ),
      v.pipe(
        v.string(),
        v.check((text) => {
          const ms = parseDuration(text) ?? 0;
          return text.trim() === "none" ||
            (ms > 0 && ms <= RANGES.MINION_WALLTIME!.max * 1000);
        }),
      ),
    ]),
    allowed:
      "seconds, or MM:SS, HH:MM:SS or D-HH:MM:SS, up to 365 days, or none, e.g. walltime: '2:00:00'",
  },
  lease: _numberKey("MINION_LEASE", "lease: 120"),
  heartbeat: _numberKey("MINION_HEARTBEAT", "heartbeat: 30"),
  quiet: {
    variable: "MINION_QUIET",
    schema: v.boolean(),
    allowed: "true or false",
  },
  env: {
    schema: v.record(
      v.pipe(v.string(), v.regex(VARIABLE_NAME)),
      v.union([v.string(), v.number(), v.boolean()]),
    ),
    allowed:
      "a mapping of variables (the engine's and reporter's settings, ...) to strings, numbers or true/false, e.g. env: { FILE_PATH: params.txt }",
  },
};
