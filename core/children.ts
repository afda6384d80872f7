/**
 * The programs this minion started and that still run, and how to stop one
 * together with everything it started.
 *
 * Children are not put in process groups of their own: in Deno that needs
 * `detached`, which turns every spawn into a full fork of the minion (about
 * three times the system time per task). Instead, a program is stopped with
 * its whole process tree, read from `/proc` only when a stop is needed.
 * Where `/proc` is missing (macOS), only the program itself is signalled.
 *
 * Some things a child starts live outside its process tree (a container
 * belongs to its runtime's daemon or monitor): their callbacks register a
 * cleanup that runs when the minion is killed at once.
 *
 * @module
 */

import { timerDelay } from "./timer.ts";

const running = new Set<number>();
const cleanups = new Set<() => void>();

/** Records a running child. */
export function track(pid: number): void {
  running.add(pid);
}

/** Forgets a child that has exited. */
export function untrack(pid: number): void {
  running.delete(pid);
}

let procRefused = false;
let warn: (message: string) => void = () => {};

/**
 * Sets who hears the one warning this module can give (Deno refusing to
 * read `/proc`); `launch` passes the minion's warning sink.
 *
 * @param sink receives the warning's text, without `minionize: warning: `
 * @returns the previous sink, to put back
 */
export function warnChildrenTo(
  sink: (message: string) => void,
): (message: string) => void {
  const previous = warn;
  warn = sink;
  return previous;
}

/**
 * Whether `error` is Deno refusing to read `/proc`, which it allows only
 * under `-A` (`--allow-read=/proc` is not enough); warns once what that
 * costs, since a stop then reaches the program alone.
 */
function refused(error: unknown): boolean {
  if (!(error instanceof Deno.errors.NotCapable)) return false;
  if (!procRefused) {
    procRefused = true;
    warn(
      "Deno lets only -A read /proc: a program stopped by --timeout or a signal is stopped without the processes it started (run with -A, or have the program stop its own children)",
    );
  }
  return true;
}

/** Parent pid of every process, from `/proc`; empty where there is none. */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch (error) {
    refused(error);
    return map;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // The command name in parentheses may hold spaces: read after it.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      map.set(Number(entry.name), Number(fields[1]));
    } catch (error) {
      if (refused(error)) return map;
      // the process ended while we looked
    }
  }
  return map;
}

/** `pid` and all its living descendants, parents before children. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const [child, parent] of parents()) {
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    tree.push(...(children.get(tree[i]!) ?? []));
  }
  return tree;
}

function send(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // ESRCH: it has already exited.
  }
}

/**
 * Sends SIGTERM to `pid` and its descendants, then SIGKILL after `graceMs`
 * to those still there (including any it started meanwhile). The SIGKILL is
 * sent even when the program itself has exited by then, since a descendant
 * that ignores SIGTERM outlives it.
 */
export function terminateTree(pid: number, graceMs: number): void {
  const seen = processTree(pid);
  for (const member of seen) send(member, "SIGTERM");
  const timer = setTimeout(() => {
    // Descendants whose parent already died were re-parented: the first
    // snapshot still names them.
    for (const member of new Set([...seen, ...processTree(pid)])) {
      if (alive(member)) send(member, "SIGKILL");
    }
  }, timerDelay(graceMs));
  Deno.unrefTimer(timer);
}

/** Whether `pid` is a live process (a zombie is not). */
function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch (error) {
    // Denied, or no /proc here: let the signal itself find out.
    if (refused(error)) return true;
    try {
      return !Deno.statSync("/proc").isDirectory;
    } catch {
      return true;
    }
  }
}

/**
 * Registers `cleanup` to run when the minion is killed at once (a second
 * signal). It must be synchronous: the minion exits right after. Returns
 * the function that unregisters it, to call once the cleanup is moot.
 */
export function trackCleanup(cleanup: () => void): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/**
 * Sends SIGKILL at once to every running child and its descendants, then
 * runs every registered cleanup; a failing cleanup does not stop the others.
 */
export function killAll(): void {
  for (const pid of running) {
    for (const member of processTree(pid)) send(member, "SIGKILL");
  }
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      // The minion is dying: nothing better to do than try the next one.
    }
  }
  cleanups.clear();
}
