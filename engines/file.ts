/**
 * Engine `file`: one param per line of a file or of standard input, as with
 * `| xargs`. Blank lines are skipped. A plain file has no way to give a param
 * back, so this engine does not redeliver: a failed param is retried in
 * place, and a param interrupted by a signal is lost to this run (the report
 * says `requeued`; feed it again to run it).
 *
 * Settings: `FILE_PATH` (unset or `-` for standard input), `FILE_DECODER`
 * (`identity`, the default, or `json`). A regular file's size in params is
 * known (`remaining`, `census`), for progress bars and ETAs.
 *
 * Publishing appends one line per param to `FILE_PATH` (standard output
 * when unset or `-`), encoded for `FILE_DECODER`.
 *
 * @module
 */

import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import { type ByteLines, openLineSource } from "../core/byte_lines.ts";
import { explain } from "../core/denied.ts";
import { readLines } from "../core/lines.ts";
import {
  decode,
  decoderLineFormat,
  DECODERS,
  encode,
  preview,
} from "../core/param.ts";

const settled = () => Promise.resolve();

/**
 * Opens the lines of `FILE_PATH` (or standard input). Under
 * `MINION_MAX_PARAMS`, a shared source (standard input, a named pipe) is
 * read no further than the last line taken, so the next reader of the pipe
 * or file gets the rest.
 */
async function openSource(env: Env): Promise<ByteLines> {
  const path = env.FILE_PATH?.trim() || "-";
  const exact = (env.MINION_MAX_PARAMS?.trim() ?? "") !== "";
  try {
    return await openLineSource(path, { exact });
  } catch (error) {
    throw new ConfigError(
      "FILE_PATH",
      `Cannot read FILE_PATH '${path}': ${
        explain(
          error,
          "give the path of a readable file, or - for standard input",
        )
      }`,
      { cause: error },
    );
  }
}

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();

/** A line's text, or why it is not text: invalid UTF-8 is never guessed at. */
function lineText(
  bytes: Uint8Array,
): { text: string; error?: undefined } | { text: string; error: string } {
  try {
    return { text: strict.decode(bytes) };
  } catch {
    const text = lenient.decode(bytes);
    return {
      text,
      error: `not valid UTF-8 text (shown with U+FFFD): ${preview(text)}`,
    };
  }
}

/**
 * The params a regular `FILE_PATH` holds (its non-blank lines), or
 * `undefined` for standard input, pipes and other streams, which can be read
 * only once.
 *
 * A named pipe is never opened here: opening it would block until a writer
 * comes, and reading it would take lines from the minion that owns it.
 */
async function countParams(env: Env): Promise<number | undefined> {
  const path = env.FILE_PATH?.trim() || "-";
  if (path === "-") return undefined;
  let file: Deno.FsFile;
  try {
    if (!(await Deno.stat(path)).isFile) return undefined;
    file = await Deno.open(path, { read: true });
  } catch {
    return undefined; // opening it for the run says what is wrong
  }
  // It may have been replaced between the two looks.
  if (!(await file.stat()).isFile) {
    file.close();
    return undefined;
  }
  let count = 0;
  for await (const line of readLines(file.readable)) {
    if (line.trim() !== "") count++;
  }
  return count;
}

/** Opens the lines of `FILE_PATH` (or standard input) as a queue. */
async function open(options: EngineOptions): Promise<Engine> {
  const decoder = readChoice(options.env, "FILE_DECODER", DECODERS, "identity");
  const lines = await openSource(options.env);
  let number = 0;
  let taken = 0;
  let total: Promise<number | undefined> | undefined;
  // A read that an abort left waiting is kept for the next call, so no line
  // is dropped when `next` gives up early.
  let pending: Promise<Uint8Array | undefined> | undefined;

  const nextLine = async (
    signal: AbortSignal,
  ): Promise<ReturnType<typeof lineText> | undefined> => {
    while (true) {
      if (signal.aborted) return undefined;
      pending ??= lines.next();
      let onAbort = () => {};
      const aborted = new Promise<"aborted">((resolve) => {
        onAbort = () => resolve("aborted");
        signal.addEventListener("abort", onAbort, { once: true });
      });
      const result = await Promise.race([pending, aborted]);
      signal.removeEventListener("abort", onAbort);
      if (result === "aborted") return undefined;
      pending = undefined;
      if (result === undefined) return undefined;
      number++;
      const line = lineText(result);
      if (line.text.trim() !== "") {
        taken++;
        return line;
      }
    }
  };

  return {
    name: "file",
    redelivers: false,
    async next(signal): Promise<Delivery | undefined> {
      const line = await nextLine(signal);
      if (line === undefined) return undefined;
      const decoded = line.error === undefined
        ? decode(line.text, decoder)
        : { ok: false as const, param: line.text, error: line.error };
      return {
        param: decoded.param,
        attempt: 1,
        id: `line ${number}`,
        ...(decoded.ok
          ? {}
          : { malformed: `line ${number}: ${decoded.error}` }),
        ack: settled,
        nack: settled,
        release: settled,
        fail: settled,
      };
    },
    async remaining() {
      // Counted once, on first demand: a second read of the file, so only
      // those who ask (a progress bar, the stats page) pay for it.
      total ??= countParams(options.env);
      const count = await total;
      return count === undefined ? undefined : Math.max(0, count - taken);
    },
    close() {
      // A read still waiting on standard input cannot be cut short; the
      // process exits without it.
      if (!pending) lines.close();
      return Promise.resolve();
    },
  };
}

/**
 * Appends params to `FILE_PATH`, one line each, in a single write once all
 * are encoded, so a param that cannot be a line leaves the file untouched.
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const decoder = readChoice(options.env, "FILE_DECODER", DECODERS, "identity");
  const lines: string[] = [];
  for await (const param of params) {
    const line = encode(param, decoder);
    // The reader splits on line ends and skips blank lines.
    if (/[\r\n]/.test(line) || line.trim() === "") {
      throw new ConfigError(
        "FILE_DECODER",
        `Cannot publish param ${
          preview(line)
        } to the file engine: under FILE_DECODER=identity a param must be one non-blank line; use FILE_DECODER=json`,
      );
    }
    lines.push(`${line}\n`);
  }
  // Nothing to add: the file is not even opened (opening a named pipe
  // would wait for a reader).
  if (lines.length === 0) return 0;
  const text = new TextEncoder().encode(lines.join(""));
  const path = options.env.FILE_PATH?.trim() || "-";
  if (path === "-") {
    const writer = Deno.stdout.writable.getWriter();
    await writer.write(text);
    writer.releaseLock();
    return lines.length;
  }
  try {
    await Deno.writeFile(path, text, { append: true, create: true });
  } catch (error) {
    throw new ConfigError(
      "FILE_PATH",
      `Cannot append to FILE_PATH '${path}': ${
        explain(
          error,
          "give the path of a writable file, or - for standard output",
        )
      }`,
      { cause: error },
    );
  }
  return lines.length;
}

/** The `file` engine plug-in. */
export const fileEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("FILE_DECODER"),
  async census(env) {
    const total = await countParams(env);
    return total === undefined ? undefined : { total };
  },
};
