import { assertEquals, assertRejects } from "../_assert.ts";
import { jsonReporter } from "../../reporters/json.ts";
import { ConfigError } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";

const base = { time: "2026-01-01T00:00:00.000Z", host: "h", pid: 1 };

Deno.test("json reporter appends one line per event to the minion's own file", async () => {
  const dir = await tempDir();
  const env = { REPORTER_JSON_DIRECTORY: `${dir}/reports` };
  for (const round of [1, 2]) {
    const reporter = await jsonReporter.open({ env, minionId: "m1" });
    await reporter.report({
      type: "param.started",
      ...base,
      minion: "m1",
      seq: round,
      param: "p",
      attempt: 1,
      slot: 1,
    });
    await reporter.close();
  }
  const lines = (await Deno.readTextFile(`${dir}/reports/m1.jsonl`)).trim()
    .split("\n");
  assertEquals(lines.map((l) => JSON.parse(l).seq), [1, 2]);
});

Deno.test("json reporter refuses a directory it cannot write", async () => {
  await assertRejects(
    () =>
      jsonReporter.open({
        env: { REPORTER_JSON_DIRECTORY: "/proc/no/such" },
        minionId: "m",
      }),
    ConfigError,
    "REPORTER_JSON_DIRECTORY '/proc/no/such'",
  );
});
