/**
 * What the shared-filesystem test services have in common: running a system
 * command, the mount table, unmounting (lazily when busy), and owning
 * directories by process id so that a later run can clear what a killed one
 * left behind.
 *
 * @module
 */

/** What a command printed and returned. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` to completion, its output captured. */
export async function runCommand(
  command: string,
  args: string[],
): Promise<CommandResult> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs `command` and returns its output; throws with it when it fails. */
export async function runOk(command: string, args: string[]): Promise<string> {
  const result = await runCommand(command, args);
  if (result.code !== 0) {
    throw new Error(
      `'${command} ${args.join(" ")}' exited with ${result.code}: ${
        (result.stderr || result.stdout).trim()
      }`,
    );
  }
  return result.stdout;
}

/** Mount points in this process's mount table, with the source of each. */
export function mountTable(): { mountPoint: string; source: string }[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  const unescape = (field: string) =>
    field.replace(
      /\\([0-7]{3})/g,
      (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
    );
  return text.split("\n").filter(Boolean).map((line) => {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    return {
      mountPoint: unescape(fields[4]!),
      source: unescape(fields[dash + 2] ?? ""),
    };
  });
}

/** Whether something is mounted on `path`. */
export function isMounted(path: string): boolean {
  return mountTable().some((entry) => entry.mountPoint === path);
}

/**
 * Unmounts `path`, lazily when it is busy (a test that failed may still hold
 * a file open there). Resolves once nothing is mounted on it.
 *
 * @throws {Error} when neither way unmounts it
 */
export async function unmount(path: string): Promise<void> {
  if (!isMounted(path)) return;
  const plain = await runCommand("umount", [path]);
  if (plain.code === 0 && !isMounted(path)) return;
  const lazy = await runCommand("umount", ["-l", path]);
  if (lazy.code !== 0 && isMounted(path)) {
    throw new Error(
      `cannot unmount ${path}: ${plain.stderr.trim()}; umount -l: ${lazy.stderr.trim()}`,
    );
  }
}

/** Whether process `pid` is alive on this machine. */
export function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Where the services keep their brick, source and mount directories. */
export const WORK_ROOT = "/tmp";

/**
 * The prefix of every name a service makes for this process: volumes,
 * directories. It carries the pid, so a later run can tell what belongs to
 * a process that is gone.
 */
export const OWNER_PREFIX = `minionize-fs-${Deno.pid}-`;

/** The pid in a name made with {@linkcode OWNER_PREFIX}, if it is one. */
export function ownerPid(name: string): number | undefined {
  const match = /minionize-fs-([0-9]+)-/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A fresh directory under /tmp named for this process (mode 755). */
export async function ownedDir(kind: string): Promise<string> {
  const dir = await Deno.makeTempDir({
    dir: WORK_ROOT,
    prefix: `${OWNER_PREFIX}${kind}-`,
  });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/**
 * Unmounts what dead owners left mounted under /tmp and removes their
 * directories (delete their volumes first: a brick lives in one).
 * Whatever fails is left for the next run.
 */
export async function reapDeadOwners(): Promise<void> {
  const dead = (name: string) => {
    const pid = ownerPid(name);
    return pid !== undefined && pid !== Deno.pid && !alive(pid);
  };
  for (const { mountPoint } of mountTable()) {
    if (
      mountPoint.startsWith(`${WORK_ROOT}/minionize-fs-`) && dead(mountPoint)
    ) {
      await unmount(mountPoint).catch(() => {});
    }
  }
  for (const entry of Deno.readDirSync(WORK_ROOT)) {
    if (!entry.isDirectory || !entry.name.startsWith("minionize-fs-")) continue;
    if (!dead(entry.name)) continue;
    const dir = `${WORK_ROOT}/${entry.name}`;
    if (mountTable().some((m) => m.mountPoint.startsWith(`${dir}/`))) continue;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
