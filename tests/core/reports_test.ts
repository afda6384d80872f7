import { assertEquals } from "../_assert.ts";
import { tempDir } from "../_cli.ts";
import { ReportFollower } from "../../core/reports.ts";

const line = (fields: Record<string, unknown>) =>
  JSON.stringify({
    time: "2026-01-01T00:00:00.000Z",
    minion: "m",
    host: "h",
    pid: 9,
    ...fields,
  }) + "\n";

const timings = { next: 0, setup: 0, process: 1, teardown: 0 };
const finished = (seq: number) =>
  line({
    type: "param.finished",
    seq,
    param: `p${seq}`,
    attempt: 1,
    outcome: "done",
    timings,
  });

Deno.test("the report follower reads only what was appended, waiting for a line's end", async () => {
  const dir = await tempDir();
  const path = `${dir}/m.jsonl`;
  const follower = new ReportFollower(dir);
  assertEquals(await follower.read(), []);
  await Deno.writeTextFile(
    path,
    line({ type: "minion.started", engine: "file" }) +
      line({ type: "param.started", seq: 1, param: "p1", attempt: 1 }),
  );
  let [m] = await follower.read();
  assertEquals(m!.inFlight.map((f) => f.param), ["p1"]);
  // Half a line: a minion in the middle of its write.
  const next = finished(1);
  await Deno.writeTextFile(path, next.slice(0, 20), { append: true });
  [m] = await follower.read();
  assertEquals([m!.done, m!.inFlight.length], [0, 1]);
  await Deno.writeTextFile(path, next.slice(20), { append: true });
  [m] = await follower.read();
  assertEquals([m!.done, m!.inFlight.length], [1, 0]);
  // The same file written anew, shorter: read again from its start.
  await Deno.writeTextFile(path, line({ type: "minion.started" }));
  [m] = await follower.read();
  assertEquals(m!.done, 0);
  await Deno.remove(path);
  assertEquals(await follower.read(), []);
});
