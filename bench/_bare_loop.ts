/**
 * The baseline of task_overhead.ts: the least a Deno program can do to run `true` once per
 * line of a file with two children in flight. No queue, no reporting.
 *
 * @module
 */

const lines = (await Deno.readTextFile(Deno.args[0]!)).split("\n").filter(
  Boolean,
);
const jobs = Number(Deno.args[1] ?? 2);
let index = 0;
async function worker() {
  while (index < lines.length) {
    const line = lines[index++]!;
    await new Deno.Command("true", { args: [line], stdin: "null" }).spawn()
      .status;
  }
}
await Promise.all(Array.from({ length: jobs }, worker));
