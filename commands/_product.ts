/**
 * Cartesian products of parameter levels, with execo's `sweep()` semantics:
 * every combination of one level per parameter, and sub-sweeps explored only
 * under the level they belong to. Used by `minionize sweep create --param`
 * and `minionize publish --param`.
 *
 * @module
 */

import type { JsonValue } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";

/**
 * A sweep specification: each parameter maps to its list of levels, or to an
 * object whose keys are its levels and whose values are the sub-sweeps to
 * explore under each level.
 */
export interface SweepSpec {
  [parameter: string]: JsonValue[] | { [level: string]: SweepSpec };
}

/**
 * Every combination of `spec`, in execo's order (the last parameter varies
 * fastest). A parameter with no levels is left out, as in execo.
 *
 * @example
 * ```ts
 * import { product } from "./_product.ts";
 * product({ a: [1, 2], b: { x: { c: [true] }, y: {} } });
 * // [{a:1,b:"x",c:true}, {a:1,b:"y"}, {a:2,b:"x",c:true}, {a:2,b:"y"}]
 * ```
 */
export function product(spec: SweepSpec): Record<string, JsonValue>[] {
  let result: Record<string, JsonValue>[] = [{}];
  for (const [name, levels] of Object.entries(spec)) {
    if (Array.isArray(levels)) {
      if (levels.length === 0) continue;
      result = result.flatMap((partial) =>
        levels.map((level) => ({ ...partial, [name]: level }))
      );
    } else {
      const entries = Object.entries(levels);
      if (entries.length === 0) continue;
      result = result.flatMap((partial) =>
        entries.flatMap(([level, sub]) =>
          product(sub).map((combination) => ({
            ...partial,
            [name]: level,
            ...combination,
          }))
        )
      );
    }
  }
  return result;
}

/** A level as typed on a command line: JSON when it reads as JSON, else text. */
function level(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

function isSubSweep(value: JsonValue): value is { [level: string]: SweepSpec } {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    Object.values(value).every((sub) =>
      sub !== null && typeof sub === "object" && !Array.isArray(sub)
    );
}

/**
 * The sweep that `--param` options describe. Each is `name=v1,v2,...` (a
 * level that reads as JSON is that value: `n=1,2` gives numbers), or
 * `name=JSON` with a JSON list of levels or a JSON object of sub-sweeps:
 * `--param 'algo={"sgd":{"lr":[0.1,0.01]},"adam":{}}'`.
 *
 * @throws {ConfigError} naming the malformed option
 */
export function parseParamOptions(options: readonly string[]): SweepSpec {
  const spec: SweepSpec = {};
  for (const option of options) {
    const eq = option.indexOf("=");
    if (eq <= 0) {
      throw new ConfigError(
        "--param",
        `--param '${option}' is not name=v1,v2,...; e.g. --param size=10,100,1000`,
      );
    }
    const name = option.slice(0, eq);
    const text = option.slice(eq + 1).trim();
    if (Object.hasOwn(spec, name)) {
      // Keeping either value silently would sweep less than asked.
      throw new ConfigError(
        "--param",
        `--param ${name} is given twice; give all its levels in one, e.g. --param ${name}=1,2,3`,
      );
    }
    if (text.startsWith("[") || text.startsWith("{")) {
      let value: JsonValue;
      try {
        value = JSON.parse(text) as JsonValue;
      } catch (error) {
        throw new ConfigError(
          "--param",
          `--param ${name}: ${(error as Error).message} in ${
            JSON.stringify(text)
          }; write a JSON list of levels or an object of sub-sweeps`,
        );
      }
      if (Array.isArray(value)) spec[name] = value;
      else if (isSubSweep(value)) spec[name] = value;
      else {
        throw new ConfigError(
          "--param",
          `--param ${name}: each level of a sub-sweep must map to an object of parameters, e.g. {"sgd":{"lr":[0.1]},"adam":{}}`,
        );
      }
    } else {
      spec[name] = text === "" ? [] : text.split(",").map(level);
    }
  }
  return spec;
}
