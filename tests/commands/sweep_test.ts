import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { sweepQueue } from "../../engines/execo/queue.ts";
import { openSweep } from "../../engines/execo/sweep.ts";
import { ROOT } from "../services/harness.ts";

const CLI = `${ROOT}cli.ts`;
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function sweep(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "sweep", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const result = await child.output();
  return {
    code: result.code,
    stdout: text(result.stdout),
    stderr: text(result.stderr),
  };
}

async function ok0(args: string[], stdin = ""): Promise<string> {
  const result = await sweep(args, stdin);
  assertEquals(result.code, 0, result.stderr);
  return result.stdout;
}

const lines = (stdout: string) => stdout.trim().split("\n").filter(Boolean);

async function tempDir(): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "sweep-cmd-" })}/sweep`;
}

Deno.test("sweep create reads JSON lines and plain lines, keeping each param once", async () => {
  const dir = await tempDir();
  const out = await ok0(
    ["create", "--dir", dir],
    '1\n"two"\nthree words\n\n{"b":1,"a":2}\n{"a":2,"b":1}\n1\n',
  );
  assertMatch(out, /created the sweep .* with 4 params/);
  assertEquals(lines(await ok0(["list", "--dir", dir])), [
    "1",
    '"two"',
    '"three words"',
    '{"a":2,"b":1}',
  ]);
});

Deno.test("sweep create --lines takes every line as a string, from a file", async () => {
  const dir = await tempDir();
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "1\n[2]\nx y\n");
  await ok0(["create", "--lines", "--dir", dir, file]);
  assertEquals(lines(await ok0(["list", "--dir", dir])), [
    '"1"',
    '"[2]"',
    '"x y"',
  ]);
});

Deno.test("sweep create --param makes execo's product, sub-sweeps included", async () => {
  const dir = await tempDir();
  await ok0([
    "create",
    "--dir",
    dir,
    "--param",
    "n=1,2",
    "--param",
    'algo={"sgd":{"lr":[0.1,0.01]},"adam":{}}',
  ]);
  assertEquals(lines(await ok0(["list", "--dir", dir])), [
    '{"algo":"sgd","lr":0.1,"n":1}',
    '{"algo":"sgd","lr":0.01,"n":1}',
    '{"algo":"adam","n":1}',
    '{"algo":"sgd","lr":0.1,"n":2}',
    '{"algo":"sgd","lr":0.01,"n":2}',
    '{"algo":"adam","n":2}',
  ]);
});

Deno.test("sweep add adds only new params and says how many", async () => {
  const dir = await tempDir();
  await ok0(["create", "--dir", dir], "1\n2\n");
  const out = await ok0(["add", "--dir", dir, "--param", "x=2,3,4"]);
  // --param x=... gives objects, so all three are new
  assertMatch(out, /added 3 params/);
  assertMatch(
    await ok0(["add", "--dir", dir], "2\n5\n"),
    /added 1 params .*1 were there already/,
  );
  assertEquals(lines(await ok0(["list", "--dir", dir])).length, 6);
});

Deno.test("sweep status, list and reset follow claims, successes and failures", async () => {
  const dir = await tempDir();
  await ok0(["create", "--dir", dir], "1\n2\n3\n4\n");
  const store = await openSweep(dir, { leaseMs: 60_000 });
  const queue = sweepQueue(store, { leaseMs: 60_000, warn: () => {} });
  const never = new AbortController().signal;
  await (await queue.next(never))!.ack();
  await (await queue.next(never))!.fail("exit 1");
  const held = (await queue.next(never))!;
  const status = await ok0(["status", "--dir", dir]);
  assertMatch(status, /4 params: 1 todo, 1 in progress, 1 done, 1 failed/);
  assertMatch(
    status,
    new RegExp(
      `3  held by .* pid ${Deno.pid} since .*lease ends in (1m00s|59s), attempt 1`,
    ),
  );
  const view = JSON.parse(await ok0(["status", "--dir", dir, "--json"]));
  assertEquals(view.held.length, 1);
  assertEquals([view.held[0].param, view.held[0].pid], [3, Deno.pid]);
  assertEquals(lines(await ok0(["list", "--dir", dir, "--todo"])), ["4"]);
  assertEquals(lines(await ok0(["list", "--dir", dir, "--done"])), ["1"]);
  assertEquals(lines(await ok0(["list", "--dir", dir, "--failed"])), ["2"]);
  assertEquals(
    lines(await ok0(["list", "--dir", dir, "--failed", "--in-progress"])),
    ["2", "3"],
  );
  assertMatch(await ok0(["reset", "--dir", dir, "--failed"]), /put 1 params/);
  assertMatch(
    await ok0(["reset", "--dir", dir, "--in-progress"]),
    /put 1 params/,
  );
  assertEquals(
    lines(await ok0(["list", "--dir", dir, "--todo"])).sort(),
    ["2", "3", "4"],
  );
  // The minion that held 3 can no longer renew it, and its ack still counts.
  await held.ack();
  assertEquals(lines(await ok0(["list", "--dir", dir, "--done"])), ["1", "3"]);
  await queue.close();
});

async function refused(args: string[], pattern: RegExp, stdin = "") {
  const result = await sweep(args, stdin);
  assertEquals(result.code, 2, result.stderr);
  assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
  assertMatch(result.stderr, /^minionize: error: /);
  assertMatch(result.stderr, pattern);
}

Deno.test("sweep commands refuse bad input with one line, exit 2 and no change", async () => {
  const dir = await tempDir();
  await refused(
    ["create", "--dir", dir, "--json"],
    /line 2 of standard input is not JSON/,
    "1\nnot json\n",
  );
  assert(!(await exists(dir)), "a sweep was created from bad input");
  await refused(["status", "--dir", dir], /does not exist/);
  await refused(["frobnicate"], /unknown sweep subcommand 'frobnicate'/);
  await refused(
    ["create", "--dir", "/proc/self/sweep"],
    /cannot create/,
    "1\n",
  );
  await refused(
    ["create", "--dir", "/proc/sys"],
    /cannot open .*for writing/,
    "1\n",
  );
  await ok0(["create", "--dir", dir], "1\n");
  const before = await Deno.readFile(`${dir}/minionize.log`);
  await refused(["create", "--dir", dir], /already holds a sweep/, "2\n");
  await refused(["reset", "--dir", dir], /say what to reset/);
  await refused(["list", "--dir", dir, "--param", "x=1"], /--param/);
  assertEquals(await Deno.readFile(`${dir}/minionize.log`), before);
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
