import { assertEquals } from "../../_assert.ts";
import {
  pages,
  type Peeked,
  peekingEngine,
} from "../../../engines/_broker/dry_run.ts";

Deno.test("pages reads after each page's cursor until a page comes back empty", async () => {
  const asked: (string | undefined)[] = [];
  const rows = [1, 2, 3, 4, 5];
  const read = pages(async (after) => {
    asked.push(after);
    const start = after === undefined ? 0 : Number(after);
    const items = rows.slice(start, start + 2);
    return await Promise.resolve({ items, after: String(start + 2) });
  });
  const seen: number[] = [];
  for await (const row of read) seen.push(row);
  assertEquals(seen, rows);
  assertEquals(asked, [undefined, "2", "4", "6"]);
});

Deno.test("a peeking engine hands out each message once, decoded, then ends", async () => {
  async function* pending(): AsyncIterable<Peeked> {
    yield { id: "1", text: '{"a":1}' };
    yield { id: "2", text: "{oops", attempt: 3 };
  }
  let closed = false;
  const engine = peekingEngine("test", pending(), "json", () => {
    closed = true;
    return Promise.resolve();
  });
  const signal = new AbortController().signal;
  const first = await engine.next(signal);
  assertEquals([first?.id, first?.param, first?.attempt], ["1", { a: 1 }, 1]);
  assertEquals(first?.malformed, undefined);
  await first?.ack();
  const second = await engine.next(signal);
  assertEquals([second?.id, second?.attempt], ["2", 3]);
  assertEquals(typeof second?.malformed, "string");
  assertEquals(await engine.next(signal), undefined);
  await engine.close();
  assertEquals(closed, true);
});

Deno.test("a peeking engine hands out nothing once its signal aborted", async () => {
  async function* pending(): AsyncIterable<Peeked> {
    yield { id: "1", text: "a" };
  }
  const engine = peekingEngine(
    "test",
    pending(),
    "identity",
    () => Promise.resolve(),
  );
  assertEquals(await engine.next(AbortSignal.abort()), undefined);
});
