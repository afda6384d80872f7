import { googleEngine } from "../../engines/google.ts";
import type { JsonValue } from "../../core/contracts.ts";
import { assert, assertEquals } from "../_assert.ts";
import { type CliResult, runCli, tempDir } from "../_cli.ts";
import { pstestAvailable, startPstest } from "../services/pstest.ts";

const ok = pstestAvailable();

/** Runs `minionize ARGS` in a fresh directory, `input` on its stdin. */
async function minionize(
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<CliResult> {
  return await runCli(args, {
    env,
    cwd: await tempDir(),
    ...(input === undefined ? {} : { stdin: input }),
  });
}

Deno.test("publish appends text lines to the file engine's FILE_PATH", async () => {
  const path = await Deno.makeTempFile();
  await Deno.writeTextFile(path, "old\n");
  const result = await minionize(
    ["publish", "--engine", "file"],
    { FILE_PATH: path },
    'a b\n\n{"x": 1}\n',
  );
  assertEquals(result.code, 0, `exit (${result.stderr})`);
  assertEquals(await Deno.readTextFile(path), 'old\na b\n{"x": 1}\n');
  assertEquals(
    result.stderr.trim(),
    "minionize: published 2 params (engine file)",
  );
});

Deno.test("publish writes the product of --param options as JSON lines", async () => {
  const result = await minionize(
    [
      "publish",
      "--engine",
      "file",
      "--param",
      "n=1,2",
      "--param=algo=sgd,adam",
    ],
    { FILE_DECODER: "json" },
  );
  assertEquals(result.code, 0, `exit (${result.stderr})`);
  assertEquals(
    result.stdout.trim().split("\n"),
    [
      '{"n":1,"algo":"sgd"}',
      '{"n":1,"algo":"adam"}',
      '{"n":2,"algo":"sgd"}',
      '{"n":2,"algo":"adam"}',
    ],
  );
});

Deno.test("publish reads JSON lines under a JSON decoder and refuses bad ones", async () => {
  const path = await Deno.makeTempFile();
  const bad = await minionize(
    ["publish", "--engine", "file"],
    { FILE_PATH: path, FILE_DECODER: "json" },
    '{"a": 1}\nnot json\n',
  );
  assertEquals(bad.code, 2);
  assert(
    bad.stderr.startsWith(
      "minionize: error: Cannot publish: line 2 of standard input is not JSON",
    ),
    bad.stderr,
  );
  assertEquals(await Deno.readTextFile(path), "");
  const good = await minionize(
    ["publish", "--engine", "file"],
    { FILE_PATH: path, FILE_DECODER: "json" },
    '{"a": 1}\n"two words"\n',
  );
  assertEquals(good.code, 0, `exit (${good.stderr})`);
  assertEquals(
    await Deno.readTextFile(path),
    '{"a":1}\n"two words"\n',
  );
  // --lines publishes each line as text, which JSON carries as a string.
  const lines = await minionize(
    ["publish", "--engine", "file", "--lines"],
    { FILE_DECODER: "json" },
    "not json\n",
  );
  assertEquals(lines.stdout, '"not json"\n');
});

Deno.test("publish refuses a param the file engine could not read back", async () => {
  const result = await minionize(
    ["publish", "--engine", "file", "--json"],
    {},
    '"two\\nlines"\n',
  );
  assertEquals(result.code, 2);
  assert(result.stderr.includes("FILE_DECODER=json"), result.stderr);
});

Deno.test("publish names an unknown engine", async () => {
  const result = await minionize(["publish", "--engine", "carrier-pigeon"], {});
  assertEquals(result.code, 2);
  assert(
    result.stderr.includes("'carrier-pigeon': expected one of"),
    result.stderr,
  );
});

Deno.test({
  name:
    "publish --create makes a Pub/Sub topic and subscription a minion drains",
  ignore: !ok,
  async fn() {
    const service = await startPstest();
    try {
      const env = {
        ...service.env,
        GOOGLE_TOPIC_ID: "params",
        GOOGLE_SUBSCRIPTION: "workers",
        GOOGLE_DECODER: "json",
      };
      const missing = await minionize(["publish", "--engine", "google"], env);
      assertEquals(missing.code, 2);
      assert(missing.stderr.includes("does not exist"), missing.stderr);
      const published = await minionize(
        ["publish", "--engine", "google", "--create", "--param", "n=1,2,3"],
        env,
      );
      assertEquals(published.code, 0, `exit (${published.stderr})`);
      // A second --create finds both and adds to the topic.
      const again = await minionize(
        ["publish", "--engine", "google", "--create"],
        env,
        '{"n": 4}\n',
      );
      assertEquals(again.code, 0, `exit (${again.stderr})`);
      const out = await Deno.makeTempFile();
      const run = await minionize([
        "--engine",
        "google",
        "--idle-exit",
        "2",
        "sh",
        "-c",
        `printf '%s\\n' "$MINION_PARAM" >> ${out}`,
      ], env);
      assertEquals(run.code, 0, `minion exit (${run.stderr})`);
      const seen = (await Deno.readTextFile(out)).trim().split("\n").sort();
      assertEquals(seen, ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
      // Nothing is left: a fresh consumer finds the subscription empty.
      const engine = await googleEngine.open({
        env,
        concurrency: 1,
        dryRun: true,
      });
      const left: JsonValue[] = [];
      for (let d; (d = await engine.next(AbortSignal.timeout(5_000)));) {
        left.push(d.param);
      }
      await engine.close();
      assertEquals(left, []);
    } finally {
      await service.stop();
    }
  },
});

Deno.test("publish adds lines to an execo sweep as JSON when they read as JSON", async () => {
  const dir = await tempDir();
  const env = { EXECO_PERSISTENCE_DIR: `${dir}/sweep` };
  const result = await minionize(
    ["publish", "--engine", "execo", "--create"],
    env,
    '1\nsome text\n{"a": [1, 2]}\n"quoted"\n',
  );
  assertEquals(result.code, 0, `exit (${result.stderr})`);
  const listed = await minionize(["sweep", "list"], env);
  assertEquals(listed.code, 0, `sweep list (${listed.stderr})`);
  assertEquals(listed.stdout.trim().split("\n").sort(), [
    '"quoted"',
    '"some text"',
    "1",
    '{"a":[1,2]}',
  ]);
});
