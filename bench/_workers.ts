/**
 * Worker processes for benchmarks: start them, wait until each prints a
 * first line (ready), send them all `go` at once, and collect the JSON line
 * each prints at the end, with the time between `go` and the last result.
 *
 * @module
 */

/** What {@linkcode runWorkers} measured. */
export interface WorkerRun<T> {
  /** Each worker's last line, parsed. */
  results: T[];
  /** Seconds from `go` to the last result. */
  seconds: number;
}

/** Runs `count` workers, the i-th started as `command args(i)`. */
export async function runWorkers<T>(
  command: string,
  args: (index: number) => string[],
  count: number,
): Promise<WorkerRun<T>> {
  const children = Array.from(
    { length: count },
    (_, index) =>
      new Deno.Command(command, {
        args: args(index),
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn(),
  );
  const readers = children.map((c) =>
    c.stdout.pipeThrough(new TextDecoderStream()).getReader()
  );
  const buffers = children.map(() => "");
  const line = async (index: number) => {
    while (!buffers[index]!.includes("\n")) {
      const { value, done } = await readers[index]!.read();
      if (done) throw new Error(`worker ${index} ended early`);
      buffers[index] += value;
    }
    const end = buffers[index]!.indexOf("\n");
    const text = buffers[index]!.slice(0, end);
    buffers[index] = buffers[index]!.slice(end + 1);
    return text;
  };
  await Promise.all(children.map((_, i) => line(i)));
  const started = performance.now();
  for (const child of children) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
  }
  const results = await Promise.all(
    children.map(async (_, i) => JSON.parse(await line(i)) as T),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(children.map((c) => c.status));
  return { results, seconds };
}
