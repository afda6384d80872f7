/**
 * What `.minionize.yml` may hold, and how it is read: YAML parsed by the
 * `yaml` package (which keeps line numbers), checked against a `valibot`
 * schema. Each key stands for a variable (`concurrency` is
 * `MINION_CONCURRENCY`), so the settings parser that reads flags, the
 * environment and `.env` reads the project file too; `command` is the program
 * to run when the command line names none. Loaded only when a project file
 * exists.
 *
 * @module
 */

import {
  type Document,
  isMap,
  isNode,
  isScalar,
  LineCounter,
  parseDocument,
  visit,
} from "npm:yaml@2.9.1";
import * as v from "npm:valibot@1.5.0";
import { ConfigError } from "../core/errors.ts";
import type { Project } from "./project.ts";
import { PROJECT_KEYS } from "./project_keys.ts";
import { split } from "npm:shlex@3.0.0";

const SCHEMA = v.strictObject(
  Object.fromEntries(
    Object.entries(PROJECT_KEYS).map(([key, spec]) => [
      key,
      v.optional(spec.schema),
    ]),
  ),
);

/** The path of an issue, and whether it is about a mapping's key. */
function where(issue: v.BaseIssue<unknown>): { path: string[]; key: boolean } {
  const path = (issue.path ?? []).map((item) => String(item.key));
  const key = issue.path?.at(-1)?.origin === "key";
  // Of a union's branches, the one that got furthest says what is wrong.
  const deepest = (issue.issues ?? [])
    .map(where)
    .sort((a, b) => b.path.length - a.path.length)[0];
  if (issue.type === "union" && deepest && deepest.path.length > 0) {
    // A branch's issues have paths from the union's own value.
    return { path: [...path, ...deepest.path], key: deepest.key };
  }
  return { path, key };
}

/** The closest known key to a misspelt one, if it is close. */
function closest(word: string): string | undefined {
  const distance = (a: string, b: string) => {
    let row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      const next = [i];
      for (let j = 1; j <= b.length; j++) {
        next[j] = Math.min(
          row[j]! + 1,
          next[j - 1]! + 1,
          row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
      }
      row = next;
    }
    return row[b.length]!;
  };
  const best = Object.keys(PROJECT_KEYS)
    .map((key) => [key, distance(word.toLowerCase(), key)] as const)
    .sort((a, b) => a[1] - b[1])[0]!;
  return best[1] <= 2 ? best[0] : undefined;
}

/** Where the key `name` of the mapping `node` starts, if it has one. */
function keyOffset(node: unknown, name: string): number | undefined {
  if (!isMap(node)) return undefined;
  const pair = node.items.find((p) =>
    isScalar(p.key) && String(p.key.value) === name
  );
  return isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
}

/** Where the value at `path` starts, if anything is there. */
function valueOffset(doc: Document, path: string[]): number | undefined {
  const node = doc.getIn(path, true);
  return isNode(node) ? node.range?.[0] : undefined;
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return "empty";
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "object") {
    return Array.isArray(value) ? "a list" : "a mapping";
  }
  return String(value);
}

/** What to say when the parser ran out of stack on nested lists or maps. */
function _deep(message: string): string | undefined {
  return /call stack/i.test(message)
    ? "lists or mappings are nested too deeply"
    : undefined;
}

/** Where the first key repeated in a mapping of `doc` starts, if any. */
function _firstDuplicateKey(doc: Document): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) {
          found = pair.key.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(pair.key.value);
      }
    },
  });
  return found;
}

/**
 * Reads the text of a project file.
 *
 * @param text the file's content
 * @param path its path, for messages
 * @throws {ConfigError} naming the key, the line and what is allowed
 */
export function parseProject(text: string, path: string): Project {
  try {
    return _parseProject(text, path);
  } catch (error) {
    // The parser, the schema or a walk over the document ran out of stack.
    const deep = error instanceof RangeError ? _deep(error.message) : undefined;
    if (deep === undefined) throw error;
    throw new ConfigError(
      path,
      `Cannot read ${path}: ${deep}; write it as 'key: value' lines (see minionize init)`,
      { cause: error },
    );
  }
}

function _parseProject(text: string, path: string): Project {
  const lines = new LineCounter();
  // Keys are checked for uniqueness below, in linear time: the package's
  // own check compares each key with every earlier one, and a file with
  // 200,000 env keys then took minutes.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: false,
  });
  const fail = (key: string, offset: number | undefined, message: string) => {
    const line = offset === undefined
      ? ""
      : ` line ${lines.linePos(offset).line}:`;
    return new ConfigError(key, `Cannot read ${path}:${line} ${message}`);
  };
  const [syntax] = doc.errors;
  if (syntax) {
    throw fail(
      path,
      syntax.pos[0],
      `${
        _deep(syntax.message) ??
          syntax.message.split("\n")[0]!.replace(
            / at line \d+, column \d+:?$/,
            "",
          )
      }; write it as 'key: value' lines (see minionize init)`,
    );
  }
  const duplicate = _firstDuplicateKey(doc);
  if (duplicate !== undefined) {
    throw fail(
      path,
      duplicate,
      "Map keys must be unique; write it as 'key: value' lines (see minionize init)",
    );
  }
  const toJS = (): unknown => {
    try {
      return doc.toJS();
    } catch (error) {
      // Aliases that expand without end (a "billion laughs" file).
      const message = (error as Error).message;
      throw fail(
        path,
        undefined,
        /alias/i.test(message)
          ? "its aliases (*name) expand too far; write the values out instead"
          : `${
            _deep(message) ?? message
          }; write it as 'key: value' lines (see minionize init)`,
      );
    }
  };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    return { path, variables: {}, command: undefined };
  }
  if (!isMap(root)) {
    throw fail(
      path,
      root.range?.[0],
      `expected 'key: value' lines, got ${shown(toJS())}; allowed keys: ${
        Object.keys(PROJECT_KEYS).join(", ")
      }`,
    );
  }
  const data = toJS() as Record<string, unknown>;
  const result = v.safeParse(SCHEMA, data);
  if (!result.success) {
    const issue = result.issues[0];
    const { path: path_, key } = where(issue);
    const top = path_[0]!;
    const keyPath = path_.join(".");
    if (issue.type === "strict_object") {
      const guess = closest(top);
      throw fail(
        top,
        keyOffset(root, top),
        `unknown key '${top}'${
          guess ? ` (did you mean '${guess}'?)` : ""
        }; allowed keys: ${Object.keys(PROJECT_KEYS).join(", ")}`,
      );
    }
    if (key) {
      // The name of an `env` variable is at fault: point at it.
      throw fail(
        keyPath,
        keyOffset(doc.get("env", true), path_[1]!),
        `env key '${
          path_[1]
        }' is not a variable name: expected capitals, digits and _, e.g. FILE_PATH`,
      );
    }
    const value = path_.reduce<unknown>(
      (at, key) => (at as Record<string, unknown> | undefined)?.[key],
      data,
    );
    const allowed = top === "env" && path_.length > 1
      ? "a string, a number or true/false"
      : PROJECT_KEYS[top]!.allowed;
    throw fail(
      keyPath,
      valueOffset(doc, path_),
      `${keyPath} is ${shown(value)}: expected ${allowed}`,
    );
  }
  const values = result.output as Record<string, unknown>;
  const variables: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    const spec = PROJECT_KEYS[key];
    if (spec?.variable !== undefined && value !== undefined) {
      variables[spec.variable] = typeof value === "boolean"
        ? (value ? "1" : "0")
        : spec.text
        ? spec.text(value)
        : String(value);
    }
  }
  const env = (values.env ?? {}) as Record<string, string | number | boolean>;
  for (const [name, value] of Object.entries(env)) {
    const owner = Object.entries(PROJECT_KEYS).find(([key, spec]) =>
      spec.variable === name && values[key] !== undefined
    );
    if (owner) {
      throw fail(
        `env.${name}`,
        keyOffset(doc.get("env", true), name),
        `env.${name} sets the same as the key '${
          owner[0]
        }'; keep only one of them`,
      );
    }
    variables[name] = typeof value === "boolean"
      ? (value ? "1" : "0")
      : String(value);
  }
  let command: string[] | undefined;
  try {
    command = typeof values.command === "string"
      ? split(values.command)
      : values.command as string[] | undefined;
  } catch {
    command = []; // an unclosed quote
  }
  if (command !== undefined && command.length === 0) {
    throw fail(
      "command",
      valueOffset(doc, ["command"]),
      `command is '${values.command}': expected ${
        PROJECT_KEYS.command!.allowed
      } (quotes closed)`,
    );
  }
  return { path, variables, command };
}
