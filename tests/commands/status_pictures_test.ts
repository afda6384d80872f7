import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { ROOT, runCli, tempDir } from "../_cli.ts";
import {
  drawPictures,
  durationBins,
  History,
} from "../../commands/status_pictures.ts";
import type { MinionEvent } from "../../core/contracts.ts";

const EXPECTED = `${ROOT}tests/testdata/status_pictures.txt`;

/**
 * Two minions over two minutes: 30 fast runs, then 30 slow ones (the sweep
 * slows down), two retried after exit code 3 and three timed out.
 */
function knownEvents(): MinionEvent[] {
  const t0 = Date.parse("2026-01-01T12:00:00.000Z");
  const events: MinionEvent[] = [];
  const add = (ms: number, minion: string, fields: Record<string, unknown>) =>
    events.push(
      {
        time: new Date(t0 + ms).toISOString(),
        minion,
        host: "node1",
        pid: minion === "alpha" ? 101 : 102,
        ...fields,
      } as unknown as MinionEvent,
    );
  for (const minion of ["alpha", "beta"]) {
    add(0, minion, {
      type: "minion.started",
      engine: "file",
      callback: "process",
      concurrency: 1,
    });
  }
  for (let i = 0; i < 60; i++) {
    const minion = i % 2 ? "beta" : "alpha";
    const process = i < 30 ? 100 + (i % 5) * 20 : 1000 + (i % 7) * 300;
    const at = i < 30 ? i * 1000 : 30_000 + (i - 30) * 3000;
    const failed = i % 13 === 7;
    add(at, minion, {
      type: "param.finished",
      seq: i,
      param: String(i),
      attempt: 1,
      outcome: failed ? (i < 30 ? "retried" : "failed") : "done",
      timings: { next: i % 3, setup: 0, process, teardown: 0 },
      ...(failed
        ? i < 30
          ? { error: "'a.out' exited with code 3", exitCode: 3 }
          : { error: "timed out after 2s" }
        : {}),
    });
  }
  for (const minion of ["alpha", "beta"]) {
    add(117_000, minion, {
      type: "minion.stopped",
      reason: "drained",
      exitCode: 1,
      done: 0,
      failed: 0,
    });
  }
  return events;
}

async function writeReports(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/minion-report`, { recursive: true });
  for (const minion of ["alpha", "beta"]) {
    await Deno.writeTextFile(
      `${dir}/minion-report/${minion}.jsonl`,
      knownEvents().filter((e) => e.minion === minion)
        .map((e) => JSON.stringify(e)).join("\n") + "\n",
    );
  }
}

Deno.test("status draws the rate over time, durations per phase and failures of a known report", async () => {
  const dir = await tempDir();
  await writeReports(dir);
  const result = await runCli(["status", "--per-minion"], { cwd: dir });
  assertEquals(result.code, 0, result.stderr);
  const pictures = result.stdout.slice(
    result.stdout.indexOf("params finished"),
  );
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(EXPECTED, pictures);
  }
  assertEquals(pictures, await Deno.readTextFile(EXPECTED));
});

Deno.test("status pictures fit 80 columns and carry no colour outside a terminal", async () => {
  const dir = await tempDir();
  await writeReports(dir);
  const result = await runCli(["status", "--per-minion"], { cwd: dir });
  const pictures = result.stdout.slice(
    result.stdout.indexOf("params finished"),
  );
  for (const line of pictures.split("\n")) {
    assert(line.length <= 80, `longer than 80 columns: ${line}`);
  }
  assert(!result.stdout.includes("\x1b"), "no escape sequence");
});

Deno.test("status --json is the report alone, without pictures", async () => {
  const dir = await tempDir();
  await writeReports(dir);
  const result = await runCli(["status", "--json"], { cwd: dir });
  const report = JSON.parse(result.stdout);
  assertEquals(Object.keys(report), [
    "directory",
    "minions",
    "totals",
    "phases",
  ]);
  assertEquals(report.totals.done, 55);
  assertEquals(report.totals.failed, 3);
  assertEquals(report.totals.retried, 2);
});

Deno.test("status --no-pictures prints the tables only", async () => {
  const dir = await tempDir();
  await writeReports(dir);
  const result = await runCli(["status", "--no-pictures"], { cwd: dir });
  assertEquals(result.code, 0);
  assert(!result.stdout.includes("params finished per second"));
  assertMatch(result.stdout, /^phase \(ms\)/m);
});

Deno.test("failures are drawn in red only when asked", () => {
  const history = new History();
  for (const event of knownEvents()) history.add(event);
  const plain = drawPictures(history);
  const coloured = drawPictures(history, { colour: true });
  assert(!plain.join("\n").includes("\x1b"));
  assertEquals(
    coloured.filter((l) => l.startsWith("\x1b[31m")).length,
    plain.filter((l) => l.startsWith(" failed ┤") || l.includes("failed runs"))
      .length + 2,
  );
});

Deno.test("durations spread over decades are binned 1-2-5, a few values one bar each", () => {
  assertEquals(durationBins([0, 3, 3, 7]), [
    { label: "0", count: 1 },
    { label: "3ms", count: 2 },
    { label: "7ms", count: 1 },
  ]);
  const spread = durationBins([1, 3, 8, 15, 40, 90, 300, 700, 2500]);
  assertEquals(spread.map((b) => b.label), [
    "1ms–2ms",
    "2ms–5ms",
    "5ms–10ms",
    "10ms–20ms",
    "20ms–50ms",
    "50ms–100ms",
    "100ms–200ms",
    "200ms–500ms",
    "500ms–1s",
    "1s–2s",
    "2s–5s",
  ]);
  assertEquals(spread.reduce((sum, b) => sum + b.count, 0), 9);
});

Deno.test("bins narrower than the labels' two digits get the digits that tell them apart", () => {
  // The demo's 0.2 s sleeps: 200 to 210 ms, in bins of about 1 ms.
  const close = durationBins([200, 201, 203, 204, 205, 206, 208, 210]);
  const labels = close.map((b) => b.label);
  assertEquals(new Set(labels).size, labels.length, labels.join(" "));
  for (const label of labels) {
    const [lo, hi] = label.split("–");
    assert(lo !== hi, label);
  }
  assertEquals(close.reduce((sum, b) => sum + b.count, 0), 8);
  // A few close values, one bar each, each its own label.
  assertEquals(durationBins([200, 201]).map((b) => b.label), [
    "200ms",
    "201ms",
  ]);
});

Deno.test("nothing finished yet draws a line saying so", () => {
  assertEquals(drawPictures(new History()), [
    "(no finished runs yet: nothing to draw)",
  ]);
});
