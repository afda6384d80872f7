/**
 * The process groups this minion started and that still run, so that a
 * second signal can kill them all at once before the minion exits.
 *
 * @module
 */

const groups = new Set<number>();

/** Records a child started with `detached: true` (its own process group). */
export function trackGroup(pid: number): void {
  groups.add(pid);
}

/** Forgets a child that has exited. */
export function untrackGroup(pid: number): void {
  groups.delete(pid);
}

/**
 * Sends `signal` to the whole process group of `pid`; a group that is
 * already gone is not an error.
 */
export function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group has already exited.
  }
}

/** Sends SIGKILL to every group still running. */
export function killAllGroups(): void {
  for (const pid of groups) signalGroup(pid, "SIGKILL");
}
