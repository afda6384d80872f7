/**
 * Params typed as lines, for `minionize publish` and `minionize sweep`: a
 * file or standard input, one param per line, blank lines skipped.
 *
 * @module
 */

import type { JsonValue, LineFormat } from "../core/contracts.ts";
import { ConfigError } from "../core/errors.ts";
import { byteLines, type ReadBytes } from "../core/byte_lines.ts";
import { preview } from "../core/param.ts";

/** What to say when a line is not JSON under the `json` format. */
export interface NotJsonMessage {
  /** The option or input to blame, e.g. `--json`. */
  variable: string;
  /** Put before the message, e.g. `Cannot publish: `. */
  prefix: string;
  /** The fix, e.g. `drop --json to take such lines as text`. */
  fix: string;
}

/**
 * Opens `source` (a path, or `-` for standard input) to read params from.
 *
 * @throws {ConfigError} when the file cannot be read; `hint` says what to give instead
 */
export async function openParamSource(
  source: string,
  hint: string,
): Promise<ReadableStream<Uint8Array>> {
  if (source === "-") return Deno.stdin.readable;
  try {
    return (await Deno.open(source, { read: true })).readable;
  } catch (error) {
    throw new ConfigError(
      "FILE",
      `Cannot read '${source}': ${(error as Error).message}; ${hint}`,
      { cause: error },
    );
  }
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** `stream` as a function that fills buffers. */
function streamReader(stream: ReadableStream<Uint8Array>): ReadBytes {
  const reader = stream.getReader();
  let left: Uint8Array | undefined;
  return async (buffer) => {
    if (left === undefined) {
      const { value, done } = await reader.read();
      if (done) return null;
      left = value;
    }
    const count = Math.min(buffer.length, left.length);
    buffer.set(left.subarray(0, count));
    left = count < left.length ? left.subarray(count) : undefined;
    return count;
  };
}

/**
 * The params of `stream`, one per non-blank line: `lines` keeps each line as
 * text, `json` parses each (a line that is not JSON is an error), `auto`
 * parses what reads as JSON and keeps the rest as text.
 *
 * @throws {ConfigError} on a line that is not UTF-8 text, or not JSON under
 *   `json`
 */
export async function readParamLines(
  stream: ReadableStream<Uint8Array>,
  source: string,
  format: LineFormat,
  notJson: NotJsonMessage,
): Promise<JsonValue[]> {
  const params: JsonValue[] = [];
  let number = 0;
  const lines = byteLines(streamReader(stream), {
    size: 65_536,
    mode: "chunked",
  });
  const where = source === "-" ? "standard input" : `'${source}'`;
  for (let bytes = await lines.next(); bytes; bytes = await lines.next()) {
    number++;
    let line: string;
    try {
      line = strict.decode(bytes);
    } catch {
      throw new ConfigError(
        notJson.variable,
        `${notJson.prefix}line ${number} of ${where} is not valid UTF-8 text: ${
          preview(new TextDecoder().decode(bytes))
        }; convert it to UTF-8 (e.g. with iconv)`,
      );
    }
    if (line.trim() === "") continue;
    if (format === "lines") {
      params.push(line);
      continue;
    }
    try {
      params.push(JSON.parse(line) as JsonValue);
    } catch (error) {
      if (format === "auto") {
        params.push(line);
        continue;
      }
      throw new ConfigError(
        notJson.variable,
        `${notJson.prefix}line ${number} of ${where} is not JSON (${
          (error as Error).message
        }): ${preview(line)}; fix it, or ${notJson.fix}`,
      );
    }
  }
  return params;
}
