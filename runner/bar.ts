/**
 * The progress bar of `--bar` (`MINION_BAR`): one line on standard error,
 * redrawn a few times a second, with the rate and an ETA when the queue can
 * say how much it holds (`Engine.remaining`). Without a terminal on
 * standard error it draws nothing, so logs stay clean.
 *
 * @module
 */

import type { Engine } from "../core/contracts.ts";
import type { MinionStats } from "../core/stats.ts";

/** How a {@linkcode ProgressBar} draws. */
export interface ProgressBarOptions {
  /** Receives each frame. */
  write: (text: string) => void;
  /** Width of the line. @default {the terminal's, or 80} */
  columns?: () => number;
  /** Redraw this often, in ms. @default {200} */
  everyMs?: number;
}

/** `h:mm:ss` or `m:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/**
 * One frame of the bar.
 *
 * @param finished params finished so far (by every minion, when the queue is shared)
 * @param total params in all, when known
 * @param rate params finished per second
 * @param width width of the line
 */
export function renderBar(
  finished: number,
  total: number | undefined,
  rate: number,
  width: number,
): string {
  const speed = `${rate.toFixed(rate < 10 ? 2 : 1)}/s`;
  if (total === undefined) return `${finished} done  ${speed}`.slice(0, width);
  const shown = Math.min(finished, total);
  const ratio = total > 0 ? shown / total : 1;
  const eta = rate > 0 ? formatDuration((total - shown) / rate) : "?";
  const tail = ` ${shown}/${total} ${Math.floor(ratio * 100)}% ${speed} ETA ${
    shown >= total ? "0:00" : eta
  }`;
  const cells = Math.max(10, Math.min(40, width - tail.length - 2));
  const full = Math.round(ratio * cells);
  return `[${"#".repeat(full)}${"-".repeat(cells - full)}]${tail}`.slice(
    0,
    width,
  );
}

/**
 * Draws the progress of a minion from its stats and its engine.
 *
 * The total is what the engine holds when the bar starts; progress is what
 * left the queue since (finished here or, on a shared queue, by other
 * minions), less what this minion still runs.
 */
export class ProgressBar {
  #timer: ReturnType<typeof setInterval> | undefined;
  #total: number | undefined;
  #startedAt = performance.now();
  #finished = 0;
  #write: (text: string) => void;
  #columns: () => number;

  private constructor(
    readonly stats: MinionStats,
    readonly engine: Engine,
    options: ProgressBarOptions,
  ) {
    this.#write = options.write;
    this.#columns = options.columns ?? (() => {
      try {
        // A pseudo-terminal without a size says 0.
        return Deno.consoleSize().columns || 80;
      } catch {
        return 80;
      }
    });
  }

  /**
   * Starts drawing.
   *
   * @param stats the minion's stats
   * @param engine its engine, asked how much remains
   * @param options where and how often to draw
   */
  static async start(
    stats: MinionStats,
    engine: Engine,
    options: ProgressBarOptions,
  ): Promise<ProgressBar> {
    const bar = new ProgressBar(stats, engine, options);
    bar.#total = await bar.#remaining();
    bar.#timer = setInterval(() => void bar.#draw(), options.everyMs ?? 200);
    return bar;
  }

  async #remaining(): Promise<number | undefined> {
    try {
      return await this.engine.remaining?.();
    } catch {
      return undefined;
    }
  }

  async #draw(): Promise<void> {
    let finished = this.stats.finished;
    if (this.#total !== undefined) {
      const remaining = await this.#remaining();
      if (remaining !== undefined) {
        finished = Math.max(
          finished,
          this.#total - remaining - this.stats.inFlight,
        );
      }
    }
    // Never go backwards: a shared queue can grow or hand a param out again.
    this.#finished = Math.max(this.#finished, finished);
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const rate = seconds > 0 ? this.#finished / seconds : 0;
    const width = Math.max(20, this.#columns() - 1);
    this.#write(
      `\r${renderBar(this.#finished, this.#total, rate, width)}\x1b[K`,
    );
  }

  /** Draws the last frame and ends the line. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#draw();
    this.#write("\n");
  }
}
