/**
 * Timing helpers shared by the benchmark scripts.
 *
 * @module
 */

/** Wall-clock seconds a command takes. */
export async function timeCommand(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<number> {
  const started = performance.now();
  const child = new Deno.Command(command, {
    args,
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
  if (!status.success) {
    throw new Error(`${command} ${args.join(" ")} exited with ${status.code}`);
  }
  return (performance.now() - started) / 1000;
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
