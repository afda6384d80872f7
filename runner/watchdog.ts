/**
 * What stops a minion's programs when the minion is killed at once (`kill
 * -9`, the OOM killer, a crash): without it they run on as orphans, and
 * once the lease runs out their params run a second time beside them.
 *
 * Linux's own tool, a parent-death signal (`prctl(PR_SET_PDEATHSIG)`), must
 * be set in the child between fork and exec, which `Deno.Command` cannot
 * do; running every program through `setpriv --pdeathsig` can (Deno
 * spawns from its main thread, seen with strace, so the signal would come
 * only when the minion itself dies, not when some worker thread ends), but
 * it costs one more exec per task (it doubled the time of 2,000 runs of
 * `true`), and it reaches only the program, not what the program starts. Instead, each
 * minion that runs programs starts one small watchdog (`sh`, about 1 MB),
 * which waits on a pipe whose other end only the minion holds. When the
 * minion leaves in order it says goodbye first; when the pipe closes
 * without a goodbye, the minion died, and the watchdog sends SIGTERM, then
 * after the grace SIGKILL, to every process whose environment carries the
 * dead minion's `MINION_ID` (its programs, and whatever they started, which
 * inherit it). No cost per task; finding the orphans takes milliseconds (one
 * GNU grep over `/proc/PID/environ`; a second or so with a grep lacking -z).
 *
 * Linux only (it reads `/proc`); elsewhere no watchdog starts.
 *
 * What a later minion on the same host could do instead, and why it does
 * not: it could look for processes carrying a `MINION_ID` whose minion is
 * gone, but it cannot tell that safely. The id holds a pid, and pids are
 * reused and belong to a pid namespace (a minion in a container may share
 * the host's name), so a live minion's programs could be taken for
 * orphans; killing those is worse than leaving an orphan. The watchdog
 * knows its minion for sure. When the watchdog dies with the minion (a
 * scheduler killing the whole job or cgroup), the programs die with them.
 *
 * @module
 */

// The watchdog itself: it ignores the signals a terminal or a scheduler
// sends the whole job (the minion decides), waits for the end of its
// standard input, and then looks for the minion's processes. GNU grep reads
// every environment in one process; otherwise one `tr | grep` per process.
const SCRIPT = `trap '' INT TERM HUP QUIT
while IFS= read -r line; do
  [ "$line" = bye ] && exit 0
done
marker="MINION_ID=$1"
if printf 'a\\0' | grep -qzxF a 2>/dev/null; then
  find_orphans() {
    grep -lzxF -e "$marker" /proc/[0-9]*/environ 2>/dev/null |
      sed -n 's|^/proc/\\([0-9]*\\)/environ$|\\1|p'
  }
else
  find_orphans() {
    for f in /proc/[0-9]*/environ; do
      if tr '\\0' '\\n' <"$f" 2>/dev/null | grep -qxF -e "$marker"; then
        p=\${f#/proc/}
        echo "\${p%/environ}"
      fi
    done
  }
fi
pids=$(find_orphans)
[ -n "$pids" ] || exit 0
kill -TERM $pids 2>/dev/null
sleep "$2"
pids=$(find_orphans)
[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
exit 0
`;

/** A running watchdog. */
export interface Watchdog {
  /** Tells it the minion leaves in order, so it stops nothing. */
  release(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * Starts the watchdog of the minion `minionId`, whose programs carry
 * `MINION_ID=minionId` in their environment; `graceMs` is the time between
 * SIGTERM and SIGKILL. Returns `undefined` off Linux, without `sh`, or
 * without the permission to run it (never a prompt): the minion then runs
 * without one.
 *
 * Needs `--allow-run=sh`.
 */
export function startWatchdog(
  minionId: string,
  graceMs: number,
): Watchdog | undefined {
  if (Deno.build.os !== "linux") return undefined;
  // Without the permission, no watchdog rather than a prompt for `sh`.
  const allowed = Deno.permissions.querySync({ name: "run", command: "sh" });
  if (allowed.state !== "granted") return undefined;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("sh", {
      args: [
        "-c",
        SCRIPT,
        "minionize-watchdog",
        minionId,
        (graceMs / 1000).toFixed(3),
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch {
    return undefined;
  }
  // It must neither keep the minion alive nor be waited for.
  child.unref();
  const writer = child.stdin.getWriter();
  return {
    async release() {
      try {
        await writer.write(encoder.encode("bye\n"));
        await writer.close();
      } catch {
        // It is gone already: nothing to release.
      }
      // It leaves at once now: wait for it, keeping the process alive.
      child.ref();
      await child.status;
    },
  };
}
