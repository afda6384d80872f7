/**
 * Timing helpers shared by the benchmark scripts.
 *
 * @module
 */

/** What one run of a command cost. */
export interface Cost {
  /** wall-clock seconds */
  wall: number;
  /** CPU seconds (user + system) of the command and its children, when GNU time is there */
  cpu: number | undefined;
}

const GNU_TIME = "/usr/bin/time";

function hasGnuTime(): boolean {
  try {
    return Deno.statSync(GNU_TIME).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs a command to completion and says what it cost. CPU time counts the
 * command and every child it waited for, so it stays meaningful on a busy
 * machine where wall time does not.
 */
export async function measure(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<Cost> {
  const timed = hasGnuTime();
  const report = timed ? await Deno.makeTempFile() : undefined;
  const started = performance.now();
  const child = new Deno.Command(timed ? GNU_TIME : command, {
    args: timed ? ["-o", report!, "-f", "%U %S", command, ...args] : args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const status = await child.status;
  const wall = (performance.now() - started) / 1000;
  if (!status.success) {
    throw new Error(`${command} ${args.join(" ")} exited with ${status.code}`);
  }
  let cpu: number | undefined;
  if (report) {
    const [user, system] = (await Deno.readTextFile(report)).trim().split("\n")
      .at(-1)!.split(" ").map(Number);
    cpu = user! + system!;
    await Deno.remove(report);
  }
  return { wall, cpu };
}

/** Wall-clock seconds a command takes. */
export async function timeCommand(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<number> {
  return (await measure(command, args, options)).wall;
}

/** The median of `values`. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Prints rows as an aligned table. */
export function printTable(rows: (string | number)[][]): void {
  const text = rows.map((row) => row.map(String));
  const widths = text[0]!.map((_, i) =>
    Math.max(...text.map((row) => row[i]!.length))
  );
  for (const row of text) {
    // deno-lint-ignore no-console
    console.log(
      row.map((cell, i) =>
        i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
      ).join("  "),
    );
  }
}

/** Whether `command` is on PATH. */
export function onPath(command: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${command}`).isFile;
    } catch {
      return false;
    }
  });
}
