/**
 * Chaos for engine tests: minion processes killed with SIGKILL at random
 * while replacements start, until the work is done.
 *
 * @module
 */

/** A minion process the chaos can kill and wait for. */
export interface ChaosMinion {
  child: Deno.ChildProcess;
  /** Settles once the process exited. */
  exited: Promise<unknown>;
}

/** How {@linkcode chaos} runs. */
export interface ChaosOptions<M extends ChaosMinion> {
  /** Starts the n-th minion (from 0). */
  start(n: number): M;
  /** Minions running at once. */
  minions: number;
  /** Pause between kills, in ms: drawn between the two. */
  pauseMs: [number, number];
  /** Kills stop once this many were made. @default {Infinity} */
  maxKills?: number;
  /** Kills stop after this long, in ms. @default {Infinity} */
  killForMs?: number;
  /** Gives up waiting for the minions after this long, in ms. */
  deadlineMs: number;
}

/** What happened: every minion started, and the pids of those killed. */
export interface ChaosResult<M extends ChaosMinion> {
  all: M[];
  killed: Set<number>;
  /** Minions still running at the deadline (none when all went well). */
  running: number;
}

/**
 * Starts `minions` minions, kills one at random after each pause and starts
 * a replacement, until the kills stop; then waits for the rest to finish.
 */
export async function chaos<M extends ChaosMinion>(
  options: ChaosOptions<M>,
): Promise<ChaosResult<M>> {
  const live: M[] = [];
  const all: M[] = [];
  const killed = new Set<number>();
  const start = () => {
    const m = options.start(all.length);
    live.push(m);
    all.push(m);
    m.exited.then(() => {
      const at = live.indexOf(m);
      if (at >= 0) live.splice(at, 1);
    });
  };
  for (let i = 0; i < options.minions; i++) start();
  const started = Date.now();
  const [low, high] = options.pauseMs;
  while (live.length > 0 && Date.now() - started < options.deadlineMs) {
    await new Promise((resolve) =>
      setTimeout(resolve, low + Math.random() * (high - low))
    );
    const stopped = killed.size >= (options.maxKills ?? Infinity) ||
      Date.now() - started > (options.killForMs ?? Infinity);
    if (stopped || live.length === 0) continue;
    const victim = live[Math.floor(Math.random() * live.length)]!;
    try {
      victim.child.kill("SIGKILL");
      killed.add(victim.child.pid);
      live.splice(live.indexOf(victim), 1);
      start();
    } catch {
      // it had just finished
    }
  }
  for (const m of live) {
    try {
      m.child.kill("SIGKILL");
    } catch {
      // gone
    }
  }
  return { all, killed, running: live.length };
}
