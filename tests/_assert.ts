/**
 * Assertions for tests, after `@std/assert` (which cannot be fetched here:
 * JSR is unreachable), built on `node:assert`.
 *
 * @module
 */

import { AssertionError, deepStrictEqual, match, ok } from "node:assert/strict";

export { deepStrictEqual as assertEquals, match as assertMatch, ok as assert };

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function check(
  error: unknown,
  type?: ErrorClass,
  pattern?: RegExp | string,
): Error {
  if (type && !(error instanceof type)) {
    throw new AssertionError({
      message: `expected ${type.name}, got ${
        error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error)
      }`,
    });
  }
  const text = error instanceof Error ? error.message : String(error);
  if (
    pattern !== undefined &&
    !(typeof pattern === "string" ? text.includes(pattern) : pattern.test(text))
  ) {
    throw new AssertionError({
      message: `error message ${
        JSON.stringify(text)
      } does not match ${pattern}`,
    });
  }
  return error as Error;
}

/** Asserts that `fn` throws (a `type`, with a message matching `pattern`). */
export function assertThrows(
  fn: () => unknown,
  type?: ErrorClass,
  pattern?: RegExp | string,
): Error {
  try {
    fn();
  } catch (error) {
    return check(error, type, pattern);
  }
  throw new AssertionError({ message: "expected the function to throw" });
}

/** Asserts that `fn` rejects (a `type`, with a message matching `pattern`). */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type?: ErrorClass,
  pattern?: RegExp | string,
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return check(error, type, pattern);
  }
  throw new AssertionError({ message: "expected the promise to reject" });
}
