import { assertEquals } from "../../_assert.ts";
import type { JsonValue } from "../../../core/contracts.ts";
import { publishInBatches } from "../../../engines/_broker/publish.ts";

async function* each(values: JsonValue[]): AsyncIterable<JsonValue> {
  yield* values;
}

Deno.test("publishInBatches sends encoded params in batches of its size and counts them", async () => {
  const batches: string[][] = [];
  const count = await publishInBatches(each(["a", 1, { b: 2 }, "c", "d"]), {
    decoder: "identity",
    size: 2,
    flush: (texts) => Promise.resolve(void batches.push(texts)),
  });
  assertEquals(count, 5);
  assertEquals(batches, [["a", "1"], ['{"b":2}', "c"], ["d"]]);
});

Deno.test("publishInBatches sends nothing for no params", async () => {
  let flushes = 0;
  const count = await publishInBatches(each([]), {
    decoder: "json",
    flush: () => Promise.resolve(flushes++),
  });
  assertEquals([count, flushes], [0, 0]);
});
