/**
 * Lines as bytes, read from a source that may be shared with whoever reads
 * it next: the file engine's standard input or named pipe under
 * `--max-params N`, where the lines after the N-th belong to the next reader
 * of the pipe or file (`{ minionize --max-params 10 ...; cat; } < params`).
 *
 * Three ways to read, chosen by {@linkcode openLineSource}:
 * - `chunked`: 64 KiB at a time, for sources no one else reads;
 * - `exact`: one byte at a time, never past the end of the line taken: for
 *   pipes, which cannot be read back (about 13 µs a byte, so only where it
 *   is needed);
 * - `positioned`: a regular file on standard input, read ahead with `pread`
 *   (which leaves the shared offset alone), the shared offset then moved
 *   past each line taken, so it always stands just after the last one.
 *
 * Lines end at `\n` (a `\r` before it is dropped); a last line without one
 * is still a line. Bytes are returned as they are: decoding, and refusing
 * what is not UTF-8, is the caller's.
 *
 * @module
 */

/** Node's `fs` module, loaded when standard input is read at an offset. */
type NodeFs = typeof import("node:fs");

/** Reads some bytes into `buffer`; `null` (or 0) at the end. */
export type ReadBytes = (buffer: Uint8Array) => Promise<number | null>;

/** Lines read one at a time. */
export interface ByteLines {
  /** How this source is read, for tests and messages. */
  readonly mode: "chunked" | "exact" | "positioned";
  /** The next line without its ending, or `undefined` at the end. */
  next(): Promise<Uint8Array | undefined>;
  /** Stops reading; a read in progress is left to finish on its own. */
  close(): void;
}

const CHUNK = 65_536;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

function join(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const line = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    line.set(part, at);
    at += part.length;
  }
  return line;
}

function withoutReturn(line: Uint8Array): Uint8Array {
  return line.at(-1) === RETURN ? line.subarray(0, -1) : line;
}

/**
 * Lines of `read`, fetched `size` bytes at a time; `taken` hears the length
 * (ending included) of each line handed out.
 */
export function byteLines(
  read: ReadBytes,
  options: {
    size: number;
    mode: ByteLines["mode"];
    close?: () => void;
    taken?: (length: number) => void;
  },
): ByteLines {
  // Bytes read but not handed out yet: `rest` holds no newline.
  let rest: Uint8Array[] = [];
  let restLength = 0;
  let head = new Uint8Array(0); // read, still to search for a newline
  let ended = false;
  return {
    mode: options.mode,
    async next() {
      while (true) {
        const end = head.indexOf(NEWLINE);
        if (end >= 0) {
          const line = join([...rest, head.subarray(0, end)], restLength + end);
          head = head.subarray(end + 1);
          rest = [];
          options.taken?.(restLength + end + 1);
          restLength = 0;
          return withoutReturn(line);
        }
        if (head.length > 0) {
          rest.push(head);
          restLength += head.length;
          head = new Uint8Array(0);
        }
        if (ended) break;
        const buffer = new Uint8Array(options.size);
        const count = await read(buffer);
        if (count === null || count === 0) {
          ended = true;
          continue;
        }
        head = buffer.subarray(0, count);
      }
      if (restLength === 0) return undefined;
      const line = join(rest, restLength);
      options.taken?.(restLength);
      rest = [];
      restLength = 0;
      return withoutReturn(line);
    },
    close() {
      options.close?.();
    },
  };
}

/** Where standard input's shared offset stands, on Linux; else `undefined`. */
function stdinOffset(): number | undefined {
  // Deno lets only -A read /proc; never prompt for it.
  const path = "/proc/self/fdinfo/0";
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return undefined;
  }
  try {
    const info = Deno.readTextFileSync(path);
    const pos = /^pos:\s*(\d+)$/m.exec(info)?.[1];
    return pos === undefined ? undefined : Number(pos);
  } catch {
    return undefined;
  }
}

/** What standard input is, without reading it. */
function stdinKind(fs: NodeFs): "file" | "other" {
  try {
    return fs.fstatSync(0).isFile() ? "file" : "other";
  } catch {
    return "other";
  }
}

/** Moves standard input's shared offset `length` bytes on, by reading them. */
function skipStdin(fs: NodeFs, length: number): void {
  const scratch = new Uint8Array(Math.min(length, CHUNK));
  let left = length;
  while (left > 0) {
    const count = fs.readSync(
      0,
      scratch,
      0,
      Math.min(left, scratch.length),
      null,
    );
    if (count === 0) return;
    left -= count;
  }
}

/** Where to read lines from. */
export interface LineSourceOptions {
  /**
   * Leave unread whatever follows the last line taken, for the next reader
   * of a shared source (standard input, a named pipe). A regular file
   * opened by path is no one else's, so it is read in chunks regardless.
   * @default {false}
   */
  exact?: boolean;
}

/**
 * Opens `path` (`-` for standard input) for reading lines, the way
 * `options.exact` asks.
 *
 * @throws whatever `Deno.open` throws, and an `Error` for a directory
 */
export async function openLineSource(
  path: string,
  options: LineSourceOptions = {},
): Promise<ByteLines> {
  if (path === "-") {
    const read: ReadBytes = (buffer) => Deno.stdin.read(buffer);
    if (!options.exact) {
      return byteLines(read, { size: CHUNK, mode: "chunked" });
    }
    // Node's file functions read fd 0 at an offset; they are loaded only
    // here, as loading them takes about as long as Deno takes to start.
    const { default: fs } = await import("node:fs");
    const start = stdinKind(fs) === "file" ? stdinOffset() : undefined;
    if (start === undefined) return byteLines(read, { size: 1, mode: "exact" });
    let position = start;
    return byteLines(
      (buffer) =>
        new Promise((resolve, reject) =>
          fs.read(0, buffer, 0, buffer.length, position, (error, count) => {
            if (error) return reject(error);
            position += count;
            resolve(count);
          })
        ),
      {
        size: CHUNK,
        mode: "positioned",
        taken: (length) => skipStdin(fs, length),
      },
    );
  }
  const file = await Deno.open(path, { read: true });
  const info = await file.stat();
  // Pipes and process substitutions (`<(cmd)`) are fine; a directory is not.
  if (info.isDirectory) {
    file.close();
    throw new Error("it is a directory");
  }
  const close = () => {
    try {
      file.close();
    } catch {
      // already closed
    }
  };
  const read: ReadBytes = (buffer) => file.read(buffer);
  return options.exact && !info.isFile
    ? byteLines(read, { size: 1, mode: "exact", close })
    : byteLines(read, { size: CHUNK, mode: "chunked", close });
}
