/**
 * The checks of `minionize sweep doctor` that one node makes alone: the
 * filesystem type and mount options of the directory, a probe file
 * created, locked, written, read back and removed, and this host's clock
 * against the file server's (the probe's modification time).
 *
 * @module
 */

import type { Verdict } from "./verdict.ts";
import { type Mount, mountKind, mountProblems } from "./mounts.ts";

/** A clock this far from the file server's (beyond the measuring error) is worth a warning. */
const CLOCK_WARN_MS = 2_000;

/** The mount check: type, kind, options known to be wrong. */
export function mountVerdict(dir: string, mount: Mount | undefined): Verdict {
  if (!mount) {
    return {
      check: "mount",
      status: "skip",
      message:
        "no /proc/self/mountinfo here: the filesystem's type is not known",
    };
  }
  const where =
    `${dir} is on ${mount.fsType} ${mount.source} (mounted at ${mount.mountPoint}; ${
      mount.options.join(",")
    })`;
  const problems = mountProblems(mount);
  if (problems.length > 0) {
    return {
      check: "mount",
      status: "fail",
      message: `${where}: ${
        problems.map((p) => `${p.option}: ${p.problem}`).join("; ")
      }`,
      fix: problems.map((p) => p.fix).join("; "),
    };
  }
  if (mount.fsType === "beegfs") return beegfsVerdict(where, mount);
  const kind = mountKind(mount.fsType);
  return {
    check: "mount",
    status: "ok",
    message: `${where}: ${
      kind === "local"
        ? "a local filesystem, seen by this node only (right for minions on this node)"
        : kind === "shared"
        ? "a filesystem shared between nodes; its own settings show when doctors on two nodes meet"
        : "its type does not tell whether other nodes see it"
    }`,
  };
}

/** BeeGFS shares `flock` between nodes only when its client is told to. */
function beegfsVerdict(where: string, mount: Mount): Verdict {
  const config = mount.options.find((o) => o.startsWith("cfgFile="))?.slice(
    "cfgFile=".length,
  ) ?? "/etc/beegfs/beegfs-client.conf";
  const fix =
    `set tuneUseGlobalFileLocks = true in ${config} and remount, on every node`;
  let text: string;
  try {
    text = Deno.readTextFileSync(config);
  } catch {
    return {
      check: "mount",
      status: "warn",
      message:
        `${where}: BeeGFS keeps locks on each node unless tuneUseGlobalFileLocks = true, and ${config} cannot be read here`,
      fix,
    };
  }
  const global = /^\s*tuneUseGlobalFileLocks\s*=\s*true\s*$/m.test(text);
  return global
    ? {
      check: "mount",
      status: "ok",
      message: `${where}: BeeGFS with global file locks`,
    }
    : {
      check: "mount",
      status: "fail",
      message:
        `${where}: BeeGFS without tuneUseGlobalFileLocks = true in ${config}: locks hold only on this node`,
      fix,
    };
}

/** What the probe file told about the file server's clock. */
export interface ClockReading {
  /** This host's clock minus the file server's, in ms. */
  offsetMs: number;
  /** How far off that may be, in ms. */
  errorMs: number;
  /** The file server's time at `at`. */
  serverMs: number;
  /** `performance.now()` when it was read. */
  at: number;
}

/**
 * Creates, locks, writes, reads back and removes a file in `base`; its
 * modification time, set as it is written, dates the file server's clock.
 */
export function probe(
  dir: string,
  base: string,
): { verdict: Verdict; clock?: ClockReading } {
  const path = `${base}/probe.${
    crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16)
  }`;
  const bytes = new TextEncoder().encode(`minionize probe ${Deno.pid}\n`);
  let step = "create";
  let clock: ClockReading | undefined;
  try {
    const create = () =>
      Deno.openSync(path, { read: true, write: true, createNew: true });
    Deno.mkdirSync(base, { recursive: true });
    let file: Deno.FsFile;
    try {
      file = create();
    } catch (error) {
      // Another doctor leaving may have removed the empty directory.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      Deno.mkdirSync(base, { recursive: true });
      file = create();
    }
    try {
      step = "lock";
      if (!file.tryLockSync(true)) throw new Error("a fresh file was locked");
      step = "write";
      const before = Date.now();
      for (let at = 0; at < bytes.length;) {
        at += file.writeSync(bytes.subarray(at));
      }
      file.syncSync();
      const after = Date.now();
      const at = performance.now();
      step = "stat";
      const mtime = Deno.statSync(path).mtime?.getTime();
      step = "read back";
      const back = Deno.readFileSync(path);
      if (
        back.length !== bytes.length || !back.every((b, i) => b === bytes[i])
      ) {
        throw new Error(
          `read ${back.length} bytes where ${bytes.length} were written`,
        );
      }
      if (mtime !== undefined) {
        clock = {
          offsetMs: (before + after) / 2 - mtime,
          // Some servers keep whole seconds.
          errorMs: (after - before) / 2 + (mtime % 1000 === 0 ? 1000 : 0),
          serverMs: mtime,
          at,
        };
      }
      step = "unlock";
      file.unlockSync();
    } finally {
      file.close();
    }
    step = "remove";
    Deno.removeSync(path);
  } catch (error) {
    try {
      Deno.removeSync(path);
    } catch {
      // never made, or already gone
    }
    return {
      verdict: {
        check: "probe",
        status: "fail",
        message: `cannot ${step} a file in ${dir}: ${(error as Error).message}`,
        fix: step === "lock" || step === "unlock"
          ? "mount with locks enabled (Lustre: -o flock)"
          : "make the directory writable, and check that its filesystem is mounted and not full",
      },
    };
  }
  return {
    verdict: {
      check: "probe",
      status: "ok",
      message: `created, locked, wrote, read back and removed a file in ${dir}`,
    },
    ...(clock ? { clock } : {}),
  };
}

/** The clock check: this host's clock against the file server's. */
export function clockVerdict(clock: ClockReading | undefined): Verdict {
  if (!clock) {
    return {
      check: "clock",
      status: "skip",
      message: "the file server gave the probe file no modification time",
    };
  }
  const seconds = (ms: number) => (Math.abs(ms) / 1000).toFixed(3);
  const side = clock.offsetMs >= 0 ? "ahead of" : "behind";
  const message = `this host's clock is ${
    seconds(clock.offsetMs)
  } s ${side} the file server's (±${seconds(clock.errorMs)} s)`;
  return Math.abs(clock.offsetMs) - clock.errorMs > CLOCK_WARN_MS
    ? {
      check: "clock",
      status: "warn",
      message,
      fix:
        "keep the clocks of all nodes in step (NTP, chrony): times that minions write are read on other hosts",
    }
    : { check: "clock", status: "ok", message };
}
