import { assertEquals, assertRejects } from "../_assert.ts";
import { fileEngine } from "../../engines/file.ts";
import { ConfigError } from "../../core/errors.ts";
import type { Engine } from "../../core/contracts.ts";
import { tempDir } from "../_cli.ts";

async function drain(engine: Engine) {
  const params = [];
  const signal = new AbortController().signal;
  for (let d = await engine.next(signal); d; d = await engine.next(signal)) {
    params.push(d.malformed ? { malformed: d.malformed } : d.param);
  }
  await engine.close();
  return params;
}

async function open(text: string, env: Record<string, string> = {}) {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params`, text);
  return await fileEngine.open({
    env: { FILE_PATH: `${dir}/params`, ...env },
    concurrency: 1,
    dryRun: false,
  });
}

Deno.test("file engine skips blank lines and keeps the rest verbatim", async () => {
  const engine = await open("a\n\n  \nb c \r\nlast");
  assertEquals(await drain(engine), ["a", "b c ", "last"]);
});

Deno.test("file engine decodes JSON lines and marks the ones that are not", async () => {
  const engine = await open('{"a":1}\n[1,2]\n{oops\n3\n', {
    FILE_DECODER: "json",
  });
  const params = await drain(engine);
  assertEquals(params.slice(0, 2), [{ a: 1 }, [1, 2]]);
  assertEquals(params[3], 3);
  const bad = params[2] as { malformed: string };
  assertEquals(bad.malformed.startsWith("line 3: message is not JSON"), true);
});

Deno.test("file engine does not redeliver: the loop retries in place", async () => {
  const engine = await open("x\n");
  assertEquals(engine.redelivers, false);
  await engine.close();
});

Deno.test("file engine stops waiting when its signal aborts, keeping the line", async () => {
  const dir = await tempDir();
  const fifo = `${dir}/fifo`;
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const opening = fileEngine.open({
    env: { FILE_PATH: fifo },
    concurrency: 1,
    dryRun: false,
  });
  const writer = await Deno.open(fifo, { write: true });
  const engine = await opening;
  const controller = new AbortController();
  const waiting = engine.next(controller.signal);
  controller.abort();
  assertEquals(await waiting, undefined);
  await writer.write(new TextEncoder().encode("late\n"));
  writer.close();
  const delivery = await engine.next(new AbortController().signal);
  assertEquals(delivery?.param, "late");
  await engine.close();
});

Deno.test("file engine refuses an unreadable path or a directory", async () => {
  const dir = await tempDir();
  for (const path of [`${dir}/missing`, dir]) {
    await assertRejects(
      () =>
        fileEngine.open({
          env: { FILE_PATH: path },
          concurrency: 1,
          dryRun: false,
        }),
      ConfigError,
      `Cannot read FILE_PATH '${path}'`,
    );
  }
});
