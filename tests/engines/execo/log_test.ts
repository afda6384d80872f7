import { assertEquals } from "../../_assert.ts";
import {
  crc32,
  encodeRecord,
  scanRecords,
} from "../../../engines/execo/log.ts";

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

Deno.test("crc32 matches the IEEE check value", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

Deno.test("journal records read back as written, unicode included", () => {
  const bytes = concat(
    encodeRecord("a", 0, '"héllo wörld"'),
    encodeRecord("d", 0, '{"o":"x.1","w":5}'),
  );
  const scan = scanRecords(bytes);
  assertEquals(scan.records, [
    { type: "a", id: 0, body: '"héllo wörld"' },
    { type: "d", id: 0, body: '{"o":"x.1","w":5}' },
  ]);
  assertEquals(scan.consumed, bytes.length);
  assertEquals(scan.invalidAt, undefined);
});

Deno.test("a record cut short at the end is a torn tail, not damage", () => {
  const good = encodeRecord("a", 0, "1");
  const torn = encodeRecord("a", 1, "2").subarray(0, 9);
  const scan = scanRecords(concat(good, torn));
  assertEquals(scan.records.length, 1);
  assertEquals(scan.invalidAt, good.length);
  assertEquals(scan.validAfterInvalid, false);
});

Deno.test("a record with a flipped byte followed by valid ones is damage", () => {
  const bad = encodeRecord("a", 1, "2");
  bad[12] = bad[12]! ^ 1;
  const scan = scanRecords(
    concat(encodeRecord("a", 0, "1"), bad, encodeRecord("a", 2, "3")),
  );
  assertEquals(scan.records.length, 1);
  assertEquals(scan.validAfterInvalid, true);
});

Deno.test("zeros left at the end by a crash count as a torn tail", () => {
  const scan = scanRecords(
    concat(encodeRecord("a", 0, "1"), new Uint8Array(100)),
  );
  assertEquals(scan.records.length, 1);
  assertEquals(scan.validAfterInvalid, false);
});
