import { assertEquals, assertMatch } from "../_assert.ts";
import { formatStatus, readStatus } from "../../commands/status.ts";
import { runCli, tempDir } from "../_cli.ts";

Deno.test("status skips a line cut short by a killed minion and counts the rest", async () => {
  const dir = await tempDir();
  const event = (fields: Record<string, unknown>) =>
    JSON.stringify({
      time: "2026-01-01T00:00:00.000Z",
      minion: "m",
      host: "h",
      pid: 9,
      ...fields,
    });
  const timings = { next: 1, setup: 0, process: 10, teardown: 0 };
  await Deno.writeTextFile(
    `${dir}/m.jsonl`,
    [
      event({ type: "minion.started", engine: "file" }),
      event({ type: "param.started", seq: 1, param: "a", attempt: 1 }),
      event({
        type: "param.finished",
        seq: 1,
        param: "a",
        attempt: 1,
        outcome: "done",
        timings,
      }),
      event({ type: "param.started", seq: 2, param: "b", attempt: 1 }),
      '{"type":"param.finished","seq":2,"par',
    ].join("\n"),
  );
  const report = await readStatus(dir);
  assertEquals(report.minions.length, 1);
  assertEquals(report.minions[0]!.inFlight.map((f) => f.param), ["b"]);
  assertEquals([report.totals.done, report.totals.inFlight], [1, 1]);
  assertEquals(report.phases.process, { count: 1, mean: 10, p50: 10, p95: 10 });
});

Deno.test("status shows the slot each param in flight runs in", async () => {
  const dir = await tempDir();
  const event = (fields: Record<string, unknown>) =>
    JSON.stringify({
      time: "2026-01-01T00:00:00.000Z",
      minion: "m",
      host: "h",
      pid: 9,
      ...fields,
    });
  await Deno.writeTextFile(
    `${dir}/m.jsonl`,
    [
      event({ type: "minion.started", engine: "file", concurrency: 2 }),
      event({ type: "param.started", seq: 1, param: "a", attempt: 1, slot: 1 }),
      event({ type: "param.started", seq: 2, param: "b", attempt: 1, slot: 2 }),
      event({
        type: "param.finished",
        seq: 1,
        param: "a",
        attempt: 1,
        outcome: "done",
        slot: 1,
        timings: { next: 1, setup: 0, process: 10, teardown: 0 },
      }),
      event({ type: "param.started", seq: 3, param: "c", attempt: 1, slot: 1 }),
    ].join("\n") + "\n",
  );
  const report = await readStatus(dir);
  assertEquals(
    report.minions[0]!.inFlight.map((f) => [f.slot, f.param]),
    [[2, "b"], [1, "c"]],
  );
  const row = formatStatus(report).split("\n")[1]!;
  assertEquals(row.includes("[2] b [1] c"), true, row);
});

Deno.test("status and top show the batch job each minion runs in, from its events", async () => {
  const dir = await tempDir();
  const write = (file: string, minion: string, job?: unknown) =>
    Deno.writeTextFile(
      `${dir}/${file}`,
      [
        { type: "minion.started", engine: "file" },
        { type: "param.started", seq: 1, param: "a", attempt: 1 },
      ].map((e) =>
        JSON.stringify({
          time: new Date().toISOString(),
          minion,
          host: "h",
          pid: 9,
          ...(job ? { job } : {}),
          ...e,
        })
      ).join("\n") + "\n",
    );
  await write("a.jsonl", "in-a-task", {
    scheduler: "slurm",
    id: "124",
    array: "120",
    index: "4",
  });
  await write("b.jsonl", "outside");
  const report = await readStatus(dir);
  assertEquals(
    report.minions.map((m) => [m.minion, m.job]).sort(),
    [["in-a-task", "slurm 120_4 (124)"], ["outside", undefined]],
  );
  const text = formatStatus(report);
  assertMatch(text.split("\n")[0]!, /^minion\s+state\s+job\s+done/);
  assertMatch(text, /in-a-task\s+running\s+slurm 120_4 \(124\)/);
  assertMatch(text, /outside\s+running\s+-\s/);

  const top = await runCli(["top", "--once", dir]);
  assertEquals(top.code, 0, top.stderr);
  assertMatch(top.stdout, /MINION\s+HOST\s+PID\s+JOB\s+STATE/);
  assertMatch(top.stdout, /in-a-task\s+h\s+9\s+slurm 120_4 \(124\)\s+running/);
});

Deno.test("status shows no job column when no minion ran in a batch job", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/m.jsonl`,
    JSON.stringify({
      type: "minion.started",
      time: new Date().toISOString(),
      minion: "m",
      host: "h",
      pid: 1,
    }) + "\n",
  );
  assertMatch(formatStatus(await readStatus(dir)), /^minion\s+state\s+done/);
});
