import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { abortable, delay } from "../../core/async.ts";

const moduleUrl = new URL("../../core/async.ts", import.meta.url).href;

Deno.test("delay resolves after its time", async () => {
  const start = performance.now();
  await delay(20);
  assert(performance.now() - start >= 19);
});

Deno.test("delay rejects with the signal's reason when it aborts", async () => {
  const controller = new AbortController();
  const waiting = delay(60_000, { signal: controller.signal });
  controller.abort(new Error("stopping"));
  await assertRejects(() => waiting, Error, "stopping");
});

Deno.test("delay rejects at once on a signal aborted already", async () => {
  const reason = new Error("gone");
  await assertRejects(
    () => delay(60_000, { signal: AbortSignal.abort(reason) }),
    Error,
    "gone",
  );
});

Deno.test("a delay that does not persist lets the process exit", async () => {
  const script = (persistent: boolean) =>
    `import { delay } from ${JSON.stringify(moduleUrl)};
     delay(60_000, { persistent: ${persistent} });`;
  const run = (persistent: boolean) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", script(persistent)],
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(10_000),
    }).output();
  // Exits at once; the persistent one would wait a minute (and be killed).
  const { code } = await run(false);
  assertEquals(code, 0);
});

Deno.test("abortable settles as its promise does", async () => {
  const signal = new AbortController().signal;
  assertEquals(await abortable(Promise.resolve(7), signal), 7);
  await assertRejects(
    () => abortable(Promise.reject(new Error("broken")), signal),
    Error,
    "broken",
  );
});

Deno.test("abortable rejects with the signal's reason, and the promise goes on", async () => {
  const controller = new AbortController();
  let resolve = (_: string) => {};
  const slow = new Promise<string>((r) => resolve = r);
  const waiting = abortable(slow, controller.signal);
  controller.abort(new Error("stopping"));
  await assertRejects(() => waiting, Error, "stopping");
  resolve("late");
  assertEquals(await slow, "late");
});

Deno.test("abortable on an aborted signal rejects, and a later rejection is handled", async () => {
  const signal = AbortSignal.abort(new Error("gone"));
  let reject = (_: Error) => {};
  const slow = new Promise<string>((_, r) => reject = r);
  await assertRejects(() => abortable(slow, signal), Error, "gone");
  // Would fail the test as an unhandled rejection if nothing listened.
  reject(new Error("too late"));
  await delay(1);
});
