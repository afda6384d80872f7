import { assertEquals, assertRejects } from "../_assert.ts";
import { retryWhile } from "../../core/retry.ts";

Deno.test("retryWhile tries again while the error is worth waiting out", async () => {
  let calls = 0;
  const result = await retryWhile(
    () => {
      if (++calls < 3) return Promise.reject(new Error("lost"));
      return Promise.resolve("ok");
    },
    (e) => (e as Error).message === "lost",
    { firstDelayMs: 1 },
  );
  assertEquals([result, calls], ["ok", 3]);
});

Deno.test("retryWhile gives up at once on another error, or when aborted", async () => {
  let calls = 0;
  await assertRejects(
    () =>
      retryWhile(() => {
        calls++;
        return Promise.reject(new Error("bad query"));
      }, () => false),
    Error,
    "bad query",
  );
  assertEquals(calls, 1);
  const controller = new AbortController();
  controller.abort();
  await assertRejects(
    () =>
      retryWhile(
        () => Promise.reject(new Error("lost")),
        () => true,
        { signal: controller.signal },
      ),
    Error,
    "lost",
  );
});

Deno.test("retryWhile stops once its patience runs out", async () => {
  let calls = 0;
  await assertRejects(
    () =>
      retryWhile(() => {
        calls++;
        return Promise.reject(new Error("lost"));
      }, () =>
        true, { patienceMs: 30, firstDelayMs: 5 }),
    Error,
    "lost",
  );
  assertEquals(calls > 1, true);
});

Deno.test("retryWhile stops pausing as soon as its signal aborts, with the last error", async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 20);
  await assertRejects(
    () =>
      retryWhile(
        () => Promise.reject(new Error("lost")),
        () => true,
        { signal: controller.signal, firstDelayMs: 10_000 },
      ),
    Error,
    "lost",
  );
  assertEquals(Date.now() - started < 5_000, true);
});
