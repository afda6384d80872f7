import { assertEquals } from "../_assert.ts";
import { byteLines, type ReadBytes } from "../../core/byte_lines.ts";

/** A source handing out `text` in pieces of at most `piece` bytes. */
function source(text: string, piece: number): ReadBytes & { read: number } {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  const read = ((buffer: Uint8Array) => {
    const count = Math.min(piece, buffer.length, bytes.length - at);
    buffer.set(bytes.subarray(at, at + count));
    at += count;
    read.read = at;
    return Promise.resolve(count === 0 ? null : count);
  }) as ReadBytes & { read: number };
  read.read = 0;
  return read;
}

async function all(lines: ReturnType<typeof byteLines>): Promise<string[]> {
  const out: string[] = [];
  for (let l = await lines.next(); l; l = await lines.next()) {
    out.push(new TextDecoder().decode(l));
  }
  return out;
}

Deno.test("byte lines split on \\n, drop a \\r before it and keep a last line without one", async () => {
  for (const piece of [1, 2, 3, 7, 1000]) {
    const lines = byteLines(source("a\r\n\nlong line\nlast", piece), {
      size: 4,
      mode: "chunked",
    });
    assertEquals(await all(lines), ["a", "", "long line", "last"], `${piece}`);
  }
});

Deno.test("exact byte lines never read past the line handed out", async () => {
  const read = source("one\ntwo\nthree\n", 1000);
  const taken: number[] = [];
  const lines = byteLines(read, {
    size: 1,
    mode: "exact",
    taken: (n) => taken.push(n),
  });
  await lines.next();
  assertEquals(read.read, 4);
  await lines.next();
  assertEquals([read.read, taken], [8, [4, 4]]);
});
