/**
 * The sweep's journal file: read from an offset to its end, and written at
 * the offset where this process stopped reading.
 *
 * On a shared filesystem a client may serve reads from a cache that does
 * not hold what another host wrote (GlusterFS's md-cache and io-cache, a
 * FUSE client's attribute cache, an NFS client without lock-driven
 * invalidation), and its idea of the file's size may be just as old: a
 * read then stops where that old size ends. Neither reopening the file nor
 * `O_DIRECT` helps (both measured on GlusterFS and bindfs). What does is a
 * change of attributes that the server must answer: setting the journal's
 * mode to the mode it has. Its reply carries the file's current size and
 * times, and the client drops what it cached. So {@linkcode Journal.refresh}
 * does that, and {@linkcode Journal.size} then reports what the server
 * holds; a reader that got fewer bytes than that knows its read was stale.
 *
 * @module
 */

import { SweepError, writeAll, writeError } from "./files.ts";

/** An open journal. */
export class Journal {
  /** The journal's path. */
  readonly path: string;
  #file: Deno.FsFile;
  #mode: number | undefined;
  #buffer = new Uint8Array(64 * 1024);

  private constructor(path: string, file: Deno.FsFile, mode?: number) {
    this.path = path;
    this.#file = file;
    this.#mode = mode;
  }

  /**
   * Opens the journal at `path`: read-write unless `readOnly`. With
   * `fresh`, {@linkcode refresh} asks the server for current attributes.
   *
   * @throws {SweepError} when it cannot be opened
   */
  static async open(
    path: string,
    options: { readOnly?: boolean; create?: boolean; fresh?: boolean } = {},
  ): Promise<Journal> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, {
        read: true,
        write: !options.readOnly,
        create: options.create ?? false,
      });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && !options.create) {
        throw new SweepError("not-a-sweep", `${path} does not exist`, {
          cause: error,
        });
      }
      throw new SweepError(
        "io",
        `cannot open ${path}${options.readOnly ? "" : " for writing"}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    const mode = options.fresh && !options.readOnly
      ? (file.statSync().mode ?? undefined)
      : undefined;
    return new Journal(
      path,
      file,
      mode === undefined ? undefined : mode & 0o7777,
    );
  }

  /**
   * Makes the client drop what it cached of the journal and learn its
   * current size from the server (see the module's doc). Does nothing on a
   * local filesystem.
   *
   * @returns false when the system refused (the journal is not this user's)
   */
  refresh(): boolean {
    if (this.#mode === undefined) return true;
    try {
      Deno.chmodSync(this.path, this.#mode);
      return true;
    } catch {
      this.#mode = undefined;
      return false;
    }
  }

  /** The journal's size as this client knows it (current after a refresh). */
  size(): number {
    return this.#file.statSync().size;
  }

  /**
   * The journal's bytes from `from` to its end, or at most `max` of them
   * (valid until the next read).
   *
   * @throws {SweepError} when it cannot be read
   */
  read(from: number, max = Infinity): Uint8Array {
    try {
      let length = 0;
      while (length < max) {
        if (length === this.#buffer.length) this.#grow();
        this.#file.seekSync(from + length, Deno.SeekMode.Start);
        const got = this.#file.readSync(this.#buffer.subarray(length)) ?? 0;
        if (got <= 0) break;
        length += got;
      }
      if (this.#buffer.length > 1 << 24 && length < 1 << 16) {
        this.#buffer = new Uint8Array(64 * 1024);
      }
      return this.#buffer.subarray(0, Math.min(length, max));
    } catch (error) {
      throw new SweepError(
        "io",
        `cannot read ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Writes `bytes` at offset `at` and, with `sync`, makes them durable (and,
   * on a shared filesystem, visible to every client) before returning.
   *
   * @throws {SweepError} when the write fails (`full` when out of space)
   */
  write(at: number, bytes: Uint8Array, sync: boolean): void {
    try {
      this.#file.seekSync(at, Deno.SeekMode.Start);
      writeAll(this.#file, bytes);
      if (sync) this.#file.syncDataSync();
    } catch (error) {
      throw writeError(this.path, error);
    }
  }

  /** Syncs what was written to disk. */
  sync(): Promise<void> {
    return this.#file.syncData();
  }

  /** Syncs what was written to disk, blocking. */
  syncSync(): void {
    this.#file.syncDataSync();
  }

  /** The descriptor minions lock. */
  get file(): Deno.FsFile {
    return this.#file;
  }

  /** Closes the journal. */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // closed already
    }
  }

  #grow(): void {
    const bigger = new Uint8Array(this.#buffer.length * 2);
    bigger.set(this.#buffer);
    this.#buffer = bigger;
  }
}
