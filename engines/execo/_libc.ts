/**
 * The few libc functions that sharing Python execo's files needs, through
 * FFI (`Deno.dlopen`, hence `--allow-ffi`): POSIX record locks (`lockf`),
 * a file's size, errno, and dropping a file's cached pages
 * (`posix_fadvise`). Loaded once, on first use.
 *
 * @module
 */

import { SweepError } from "./files.ts";

/** `lockf` commands: lets go of the lock. */
export const F_ULOCK = 0;
/** Waits for the lock. */
export const F_LOCK = 1;
/** Takes the lock if it is free. */
export const F_TLOCK = 2;

/** The errno values that mean "held by another process". */
export const BUSY = new Set([11, 13, 35]); // EAGAIN (Linux), EACCES, EAGAIN (macOS)
/** Interrupted by a signal: try again. */
export const EINTR = 4;

const SYMBOLS = {
  lockf: { parameters: ["i32", "i32", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  lockfWait: {
    name: "lockf",
    parameters: ["i32", "i32", "i64"],
    result: "i32",
    nonblocking: true,
  },
} as const;

/** The libc functions used. */
export interface Libc {
  /** `lockf(fd, command, 0)`. */
  lockf(fd: number, command: number): number;
  /** Drops the cached pages of a file (`posix_fadvise` DONTNEED), where libc has it. */
  dropCache(fd: number): void;
  /** The size of the file behind `fd` (`lseek` to its end). */
  size(fd: number): number;
  /** `lockf`, off the main thread (it may block). */
  lockfWait(fd: number, command: number): Promise<number>;
  /** errno after a failed call. */
  errno(): number;
}

let loaded: Libc | undefined;

/** The libc functions if they were loaded already (no FFI needed to ask). */
export function loadedLibc(): Libc | undefined {
  return loaded;
}

/** The libc names tried, for glibc, musl and macOS. */
const LIBRARIES = [
  "libc.so.6",
  "libc.so",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
  "libSystem.B.dylib",
];

/**
 * The libc functions, loaded once.
 *
 * @throws {SweepError} (`permission`) when FFI is not allowed
 */
export function libc(what: string): Libc {
  if (loaded) return loaded;
  let failure: unknown;
  for (const name of LIBRARIES) {
    try {
      const lib = Deno.dlopen(name, SYMBOLS);
      const errno = openErrno(name);
      const dropCache = openDropCache(name);
      loaded = {
        lockf: (fd, command) => lib.symbols.lockf(fd, command, 0n),
        // The offset goes back to 0 at once: lockf's range starts there.
        size: (fd) => {
          const end = Number(lib.symbols.lseek(fd, 0n, 2));
          lib.symbols.lseek(fd, 0n, 0);
          return end;
        },
        lockfWait: (fd, command) => lib.symbols.lockfWait(fd, command, 0n),
        errno,
        dropCache,
      };
      return loaded;
    } catch (error) {
      if (isDenied(error)) {
        throw new SweepError(
          "permission",
          `${what} holds Python execo's files, which minionize shares with Python minions under their own locks (POSIX fcntl locks, taken through libc): run minionize with --allow-ffi (deno run -A allows it); once no Python minion uses the sweep, 'minionize sweep convert' (with --allow-ffi too) moves it to minionize's own format, which needs no FFI`,
          { cause: error },
        );
      }
      failure = error;
    }
  }
  throw new SweepError(
    "io",
    `cannot load libc to take Python execo's locks on ${what}: ${
      (failure as Error).message
    }`,
    { cause: failure },
  );
}

function isDenied(error: unknown): boolean {
  const name = (error as Error)?.name;
  return name === "NotCapable" || name === "PermissionDenied";
}

/** `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`. */
const FADV_DONTNEED = 4;

/**
 * Drops what the kernel cached of a file, where libc has `posix_fadvise`
 * (not macOS: there it does nothing).
 */
function openDropCache(library: string): (fd: number) => void {
  try {
    const lib = Deno.dlopen(
      library,
      {
        posix_fadvise: {
          parameters: ["i32", "i64", "i64", "i32"],
          result: "i32",
        },
      } as const,
    );
    return (fd) => void lib.symbols.posix_fadvise(fd, 0n, 0n, FADV_DONTNEED);
  } catch {
    return () => {};
  }
}

/** Reads errno right after a failed call (on this thread). */
function openErrno(library: string): () => number {
  for (const symbol of ["__errno_location", "__error"]) {
    try {
      const lib = Deno.dlopen(
        library,
        {
          [symbol]: { parameters: [], result: "pointer" },
        } as const,
      );
      const get = lib.symbols[symbol] as () => Deno.PointerValue;
      return () => {
        const pointer = get();
        return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
      };
    } catch {
      // not this libc's name for it
    }
  }
  return () => 0;
}
