/**
 * `minionize sweep doctor`: whether a directory can hold a sweep that
 * minions on several nodes share. Alone, it checks what one node can see:
 * the filesystem type and its mount options, that a file can be created,
 * locked, written, read back and removed, and how far this host's clock is
 * from the file server's. Started at the same time on several nodes (e.g.
 * `srun -N 2 minionize sweep doctor sweeps`), the instances meet through
 * files in the directory and check together that a lock keeps the others
 * out and that what one writes under it the others read after taking it
 * (see `doctor_peers.ts`). Each check gives one verdict with the fix. It
 * leaves nothing behind in the directory.
 *
 * @module
 */

import { meetPeers, type PeerRun } from "./doctor_peers.ts";
import { clockVerdict, mountVerdict, probe } from "./doctor_local.ts";
import { type Mount, mountOf } from "./mounts.ts";
import type { Verdict } from "./verdict.ts";

export type { Verdict, VerdictStatus } from "./verdict.ts";

/** How {@linkcode sweepDoctor} runs. */
export interface DoctorOptions {
  /**
   * The name under which instances meet: those given the same name meet.
   * @default {"lobby"} (every doctor started in this directory meanwhile)
   */
  run?: string | undefined;
  /**
   * How many instances to wait for, this one included; without it, the
   * instances that join within `joinMs` are the run.
   */
  peers?: number | undefined;
  /** How long to wait for others when `peers` is not given, in ms. @default {6000} */
  joinMs?: number;
  /** Stops the doctor; its files are removed. */
  signal?: AbortSignal | undefined;
  /** Told of each verdict as soon as it is known. */
  onVerdict?: (verdict: Verdict) => void;
  /** Told when the doctor waits for other instances. */
  onWait?: (message: string) => void;
}

/** The directory under DIR where instances meet (removed at the end). */
export const DOCTOR_DIR = ".minionize-doctor";

const LOCK_FIX =
  "make locks reach the file server: NFS without nolock and with local_lock=none, Lustre with -o flock (not localflock), BeeGFS with tuneUseGlobalFileLocks = true in beegfs-client.conf; a FUSE filesystem must pass locks on (bindfs --enable-lock-forwarding)";

const GLUSTER_CACHES = [
  "write-behind",
  "quick-read",
  "io-cache",
  "read-ahead",
  "stat-prefetch",
  "open-behind",
  "readdir-ahead",
];

/** How to make `mount` read what other nodes wrote. */
function staleFix(mount: Mount | undefined): string {
  if (mount?.fsType === "fuse.glusterfs") {
    const volume = mount.source.replace(/^.*:\/?/, "") || "VOLUME";
    return `turn GlusterFS's client caches off: gluster volume set ${volume} ${
      GLUSTER_CACHES.map((cache) => `performance.${cache} off`).join(" ")
    }, and mount with -o attribute-timeout=0,entry-timeout=0`;
  }
  if (mount?.fsType === "nfs" || mount?.fsType === "nfs4") {
    return "mount without nocto and with local_lock=none: NFS drops its cached copy of a file when a lock on it is taken, unless locks are local";
  }
  return "turn off the client's caching of file data and attributes (for a FUSE filesystem: attribute and entry timeouts 0, direct_io)";
}

/** The verdicts on what the instances saw together. */
function peerVerdicts(
  dir: string,
  run: PeerRun,
  options: DoctorOptions,
  mount: Mount | undefined,
): Verdict[] {
  const who = (p: { host: string; pid: number }) => `${p.host} pid ${p.pid}`;
  const expected = options.peers;
  const verdicts: Verdict[] = [];
  if (run.members.length === 0) {
    return [{
      check: "peers",
      status: "warn",
      message:
        `the other instances had started before this one joined: checked this host only`,
      fix: "start all instances within a few seconds, or give each --peers N",
    }];
  }
  if (run.members.length === 1) {
    return [
      expected !== undefined && expected > 1
        ? {
          check: "peers",
          status: "fail",
          message:
            `expected ${expected} instances, but no other joined in ${dir}`,
          fix:
            "start them at the same time, on the same directory (files made on one node must show on the others)",
        }
        : {
          check: "peers",
          status: "skip",
          message:
            `no other instance joined: checked this host only; to check locks and reads across nodes, run it on two or more at once (srun -N 2 minionize sweep doctor ${dir})`,
        },
    ];
  }
  const names = run.members.map((p) =>
    p.id === run.me.id ? `${who(p)} (this one)` : who(p)
  ).join(", ");
  const short = expected !== undefined && run.members.length < expected;
  verdicts.push(
    run.problem !== undefined || short
      ? {
        check: "peers",
        status: "fail",
        message: `${run.members.length}${
          short ? ` of ${expected}` : ""
        } instances met (${names})${
          run.problem ? `, then ${run.problem}` : ""
        }`,
      }
      : {
        check: "peers",
        status: "ok",
        message: `${run.members.length} instances met: ${names}`,
      },
  );
  const seen = run.observations;
  const total = seen.length;
  if (total === 0) {
    for (const check of ["lock", "read", "reopen"]) {
      verdicts.push({
        check,
        status: "skip",
        message: "not checked: the instances stopped before",
      });
    }
    return verdicts;
  }
  const holders = (list: typeof seen) =>
    [...new Set(list.map((o) => who(o.holder)))].join(", ");
  const notOut = seen.filter((o) => !o.lockedOut);
  verdicts.push(
    notOut.length === 0
      ? {
        check: "lock",
        status: "ok",
        message:
          `a lock held by another instance kept this one out (${total} of ${total} tries)`,
      }
      : {
        check: "lock",
        status: "fail",
        message: `a lock held by ${
          holders(notOut)
        } did not keep this instance out (${notOut.length} of ${total} tries): locks are not shared between these clients, so minions would write over each other`,
        fix: LOCK_FIX,
      },
  );
  const staleKept = seen.filter((o) => !o.keptCurrent);
  const first = staleKept[0];
  verdicts.push(
    first === undefined
      ? {
        check: "read",
        status: "ok",
        message:
          `after taking the lock, a descriptor kept open read what the holder had written (${total} of ${total} times)`,
      }
      : {
        check: "read",
        status: "fail",
        message:
          `after taking the lock, a descriptor kept open read stale data ${staleKept.length} of ${total} times (${first.keptBytes} of ${first.expected} bytes, fstat size ${first.keptSize}, after ${
            who(first.holder)
          } wrote): this filesystem's clients cache what others write`,
        fix: staleFix(mount),
      },
  );
  const staleFresh = seen.filter((o) => !o.freshCurrent);
  const firstFresh = staleFresh[0];
  verdicts.push(
    firstFresh === undefined
      ? {
        check: "reopen",
        status: "ok",
        message:
          `after taking the lock, a fresh open read what the holder had written (${total} of ${total} times)`,
      }
      : {
        check: "reopen",
        status: "fail",
        message:
          `after taking the lock, a fresh open read stale data ${staleFresh.length} of ${total} times (${firstFresh.freshBytes} of ${firstFresh.expected} bytes after ${
            who(firstFresh.holder)
          } wrote)`,
        fix: staleFix(mount),
      },
  );
  return verdicts;
}

/**
 * Checks that `dir` (an existing directory) can hold a sweep shared by
 * minions on several nodes, and returns one verdict per check. Needs
 * `--allow-read`, `--allow-write` and `--allow-sys` (host name).
 *
 * @example Alone, on a local directory
 * ```ts
 * import { sweepDoctor } from "./doctor.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const verdicts = await sweepDoctor(dir, { peers: 1 });
 * console.log(verdicts.map((v) => `${v.status} ${v.check}`).join(", "));
 * await Deno.remove(dir);
 * ```
 */
export async function sweepDoctor(
  dir: string,
  options: DoctorOptions = {},
): Promise<Verdict[]> {
  const verdicts: Verdict[] = [];
  const say = (verdict: Verdict) => {
    verdicts.push(verdict);
    options.onVerdict?.(verdict);
  };
  const base = `${dir}/${DOCTOR_DIR}`;
  const mount = mountOf(dir);
  say(mountVerdict(dir, mount));
  try {
    const { verdict, clock } = probe(dir, base);
    say(verdict);
    say(clockVerdict(clock));
    if (verdict.status === "fail") return verdicts;
    const started = performance.now();
    const run = await meetPeers(base, {
      run: options.run ?? "lobby",
      peers: options.peers,
      joinMs: options.joinMs ?? 6_000,
      signal: options.signal,
      serverNow: () =>
        clock
          ? clock.serverMs + performance.now() - clock.at
          : Date.now() + performance.now() - started,
      ...(options.onWait ? { onWait: options.onWait } : {}),
    });
    if (options.signal?.aborted) return verdicts;
    for (const verdict of peerVerdicts(dir, run, options, mount)) {
      say(verdict);
    }
  } finally {
    try {
      Deno.removeSync(base); // only when empty: others may still be in it
    } catch {
      // another doctor is still there; the last one out removes it
    }
  }
  return verdicts;
}
