/**
 * Pickles read and written by minionize, checked against real Python: what
 * Python writes in every protocol reads with its types, and what minionize
 * writes Python reads back equal, with the same types.
 */

import { assert, assertEquals, assertMatch } from "../../_assert.ts";
import {
  PickleReader,
  readPickle,
} from "../../../engines/execo/pickle_read.ts";
import type { PyValue } from "../../../engines/execo/pickle_values.ts";
import {
  poisonPickle,
  stopPickle,
  writePickle,
} from "../../../engines/execo/pickle_write.ts";
import { jsonFromPy, pyFromJson } from "../../../engines/execo/py_json.ts";
import { hasPython, PYTHON, text } from "../_execo_python.ts";

/** Runs Python with `input` on its standard input. */
async function python(
  code: string,
  input?: Uint8Array,
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  if (input) await writer.write(input);
  await writer.close();
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: text(out.stderr) };
}

const VALUES = `
from execo_engine.sweep import HashableDict, sweep
values = [None, True, False, 0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**40, -2**40,
  2**70, -2**70, 1.5, -0.25, 1e300, "", "a", "é€𝄞", "x" * 300, b"\\x00\\xff",
  (), (1,), (1, "a"), (1, 2, 3), (1, 2, 3, 4), frozenset(), frozenset([1, "b"]),
  HashableDict(), sweep({"n": [1], "x": [0.5], "s": ["a b"]})[0],
  HashableDict(t=(1, 2), f=frozenset([3]), d=HashableDict(k="v"))]
`;

/** What each value must read as: its kind and its JSON, or its bigint. */
function describe(value: PyValue): string {
  if (typeof value === "bigint") return `int ${value}`;
  if (value === null || typeof value !== "object") {
    return `${typeof value} ${JSON.stringify(value)}`;
  }
  if (value.kind === "bytes") return `bytes ${[...value.bytes]}`;
  if (value.kind === "dict") {
    return `dict ${value.cls ?? ""} ${JSON.stringify(jsonFromPy(value))}`;
  }
  if (value.kind === "marker") return "marker";
  return `${value.kind} [${value.items.map(describe).join(", ")}]`;
}

Deno.test({
  name:
    "pickles Python writes in protocols 0 to 5 read with their Python types",
  ignore: !hasPython,
  async fn() {
    const expected = [
      "object null",
      "boolean true",
      "boolean false",
      "number 0",
      "number 255",
      "number 256",
      "number 65535",
      "number 65536",
      "number -1",
      "number -2147483648",
      "number 2147483648",
      "number 1099511627776",
      "number -1099511627776",
      "int 1180591620717411303424",
      "int -1180591620717411303424",
      "number 1.5",
      "number -0.25",
      "number 1e+300",
      'string ""',
      'string "a"',
      'string "é€𝄞"',
      `string "${"x".repeat(300)}"`,
      "bytes 0,255",
      "tuple []",
      "tuple [number 1]",
      'tuple [number 1, string "a"]',
      "tuple [number 1, number 2, number 3]",
      "tuple [number 1, number 2, number 3, number 4]",
      "frozenset []",
      "frozenset [",
      "dict execo_engine.sweep.HashableDict {}",
      'dict execo_engine.sweep.HashableDict {"n":1,"x":0.5,"s":"a b"}',
      "dict execo_engine.sweep.HashableDict",
    ];
    for (let protocol = 0; protocol <= 5; protocol++) {
      const out = await python(
        `import pickle, sys${VALUES}sys.stdout.buffer.write(pickle.dumps(values, protocol=${protocol}))`,
      );
      assertEquals(out.code, 0, out.stderr);
      const read = readPickle(out.stdout);
      assert(typeof read === "object" && read !== null && "items" in read);
      const got = read.items.map(describe);
      expected.forEach((want, i) =>
        assert(got[i]!.startsWith(want), `protocol ${protocol}: ${got[i]}`)
      );
    }
  },
});

Deno.test({
  name:
    "pickles minionize writes read back in Python equal, with the same types",
  ignore: !hasPython,
  async fn() {
    const out = await python(
      `import pickle, sys${VALUES}sys.stdout.buffer.write(pickle.dumps(values, protocol=4))`,
    );
    const values = readPickle(out.stdout);
    const back = await python(
      `import pickle, sys${VALUES}
got = pickle.loads(sys.stdin.buffer.read())
assert len(got) == len(values), len(got)
for a, b in zip(got, values):
    assert a == b and type(a) is type(b), (a, b, type(a), type(b))
    if not isinstance(a, bytes): hash(a)
print("ok")`,
      writePickle(values),
    );
    assertEquals(back.code, 0, back.stderr);
    assertEquals(text(back.stdout).trim(), "ok");
  },
});

Deno.test({
  name:
    "a JSON param written back is equal in Python to execo's own HashableDict",
  ignore: !hasPython,
  async fn() {
    const param = { n: 1, x: 0.5, s: "a b", t: [1, "u"] };
    const back = await python(
      `import pickle, sys
from execo_engine.sweep import HashableDict
got = pickle.loads(sys.stdin.buffer.read())
want = HashableDict(n=1, x=0.5, s="a b", t=(1, "u"))
assert got == {want} and type(next(iter(got))) is HashableDict, got
print("ok")`,
      writePickle({ kind: "set", items: [pyFromJson(param)] }),
    );
    assertEquals(back.code, 0, back.stderr);
  },
});

Deno.test({
  name:
    "the stop pickle exits Python with its message; the poison pickle raises when hashed",
  ignore: !hasPython,
  async fn() {
    const stop = await python(
      "import pickle, sys; pickle.loads(sys.stdin.buffer.read())",
      stopPickle("minionize: error: moved"),
    );
    assertEquals(stop.code, 1);
    assertEquals(stop.stderr, "minionize: error: moved\n");
    const poison = await python(
      `import pickle, sys
value = pickle.loads(sys.stdin.buffer.read())
print("loaded", flush=True)
set(value)`,
      poisonPickle('moved "here"'),
    );
    assertEquals(poison.code, 1);
    assertEquals(text(poison.stdout), "loaded\n");
    assertMatch(poison.stderr, /MinionizeSweepMoved: moved "here"\n$/);
  },
});

Deno.test("pickles read one after the other, and a torn one says so", () => {
  const one = writePickle("a");
  const two = writePickle({ kind: "tuple", items: [1, 2] });
  const stream = new Uint8Array(one.length + two.length + 3);
  stream.set(one);
  stream.set(two, one.length);
  stream.set(two.subarray(0, 3), one.length + two.length);
  const reader = new PickleReader(stream);
  assertEquals(reader.read(), "a");
  assertEquals(jsonFromPy(reader.read()), [1, 2]);
  const at = reader.offset;
  let torn = false;
  try {
    reader.read();
  } catch (error) {
    torn = (error as Error).name === "PickleError";
  }
  assert(torn);
  assertEquals(reader.offset, at);
  assertEquals(describe(readPickle(stopPickle("x"))), "marker");
});

Deno.test("a pickle cut anywhere before its STOP reads as cut short, inside a string too", () => {
  // Python 3's pickle.dumps('p12', protocol=4) (framed), and minionize's own.
  const python = Uint8Array.from(
    atob("gASVBwAAAAAAAACMA3AxMpQu"),
    (c) => c.charCodeAt(0),
  );
  const pickles = [
    python,
    writePickle("é p12"),
    writePickle({
      kind: "set",
      items: ["p1", 2, { kind: "tuple", items: [] }],
    }),
  ];
  for (const pickle of pickles) {
    for (let cut = 0; cut < pickle.length; cut++) {
      let name = "";
      try {
        readPickle(pickle.subarray(0, cut));
      } catch (error) {
        name = (error as Error).constructor.name;
      }
      assertEquals(name, "PickleTruncated", `cut at byte ${cut} of ${pickle}`);
    }
  }
});
