/**
 * Syncs a store's files to disk at most once a second. A record is in the
 * kernel as soon as its transaction ends; a sync bounds what a power cut of
 * a local disk can take back, and is done outside the lock, so that others
 * need not wait for the disk.
 *
 * @module
 */

/** Longest time a written record waits to be synced to disk, in ms. */
export const SYNC_INTERVAL_MS = 1000;

/** How a {@linkcode SyncPacer} syncs. */
export interface SyncPacerOptions {
  /** Syncs the files (its failures are the next write's to report). */
  sync: () => Promise<void> | void;
  /** Syncs the files at once, on close. */
  syncSync: () => void;
  /**
   * When the last sync is older than the interval, sync at once, awaited
   * by {@linkcode SyncPacer.soon} (its failure rejects it); else by a timer
   * that fires at once. @default {false}
   */
  inline?: boolean;
}

/** Syncs at most once per {@linkcode SYNC_INTERVAL_MS}. */
export class SyncPacer {
  #options: SyncPacerOptions;
  #unsynced = false;
  #lastSync = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A pacer of `options.sync`. */
  constructor(options: SyncPacerOptions) {
    this.#options = options;
  }

  /** Asks for a sync: now if the last one is old enough (`inline`), else by a timer. */
  async soon(): Promise<void> {
    this.#unsynced = true;
    const wait = this.#lastSync + SYNC_INTERVAL_MS - Date.now();
    if (this.#options.inline && wait <= 0) {
      this.#unsynced = false;
      this.#lastSync = Date.now();
      await this.#options.sync();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, wait));
    Deno.unrefTimer(this.#timer);
  }

  #fire(): void {
    this.#timer = undefined;
    if (!this.#unsynced) return;
    this.#unsynced = false;
    this.#lastSync = Date.now();
    try {
      Promise.resolve(this.#options.sync()).catch(() => {});
    } catch {
      // the next write says what is wrong
    }
  }

  /** Stops the timer and syncs what is not synced yet. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#unsynced) return;
    this.#unsynced = false;
    try {
      this.#options.syncSync();
    } catch {
      // closed already
    }
  }
}
