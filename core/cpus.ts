/**
 * The CPUs this minion may run on, in the kernel's list syntax (`0-3,8`):
 * the affinity a scheduler's cgroup or `taskset` gave it, read from
 * `/proc/self/status`, so that tasks are bound only to CPUs the job owns.
 *
 * @module
 */

import { ConfigError } from "./errors.ts";

/**
 * The CPU numbers of a list such as `0-3,8,10-11`, in ascending order.
 *
 * @param text a CPU list as the kernel and `taskset -c` write it
 * @returns the numbers, ascending, each once
 * @throws {RangeError} when `text` is not such a list
 */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(",")) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    const first = Number(match?.[1]);
    const last = match?.[2] === undefined ? first : Number(match[2]);
    if (!match || last < first) {
      throw new RangeError(
        `Cannot read the CPU list '${text}': '${part}' is not N or N-M; write it as the kernel does, e.g. 0-3,8`,
      );
    }
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * A CPU list with runs written as ranges: `[0, 1, 2, 5]` gives `0-2,5`.
 *
 * @param cpus CPU numbers, ascending
 * @returns the list `taskset -c` and `--cpuset-cpus` take
 */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= cpus.length; i++) {
    if (i < cpus.length && cpus[i] === cpus[i - 1]! + 1) continue;
    const [first, last] = [cpus[start]!, cpus[i - 1]!];
    parts.push(first === last ? `${first}` : `${first}-${last}`);
    start = i;
  }
  return parts.join(",");
}

/**
 * The CPUs this process may run on (`Cpus_allowed_list` of
 * `/proc/self/status`). Needs `--allow-read`.
 *
 * @param statusPath where to read it, for tests
 * @returns the CPU numbers, ascending
 * @throws {ConfigError} when the file cannot be read (not Linux) or lacks the line
 */
export async function allowedCpus(
  statusPath = "/proc/self/status",
): Promise<number[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(statusPath);
  } catch (error) {
    throw new ConfigError(
      "MINION_CPUS_PER_TASK",
      `Cannot bind tasks to CPUs: reading ${statusPath} failed (${
        (error as Error).message
      }); --cpus-per-task works on Linux only, drop it elsewhere`,
      { cause: error },
    );
  }
  const line = /^Cpus_allowed_list:\s*(\S+)/m.exec(text);
  if (!line) {
    throw new ConfigError(
      "MINION_CPUS_PER_TASK",
      `Cannot bind tasks to CPUs: ${statusPath} has no Cpus_allowed_list line; --cpus-per-task needs a Linux kernel that writes it`,
    );
  }
  try {
    return parseCpuList(line[1]!);
  } catch (error) {
    throw new ConfigError("MINION_CPUS_PER_TASK", (error as Error).message, {
      cause: error,
    });
  }
}
