import { assertEquals, assertThrows } from "../_assert.ts";
import { parseParamOptions, product } from "../../commands/_product.ts";
import { ConfigError } from "../../core/errors.ts";

Deno.test("product varies the last parameter fastest, as execo's sweep does", () => {
  assertEquals(product({ a: ["x", "y"], b: [1, 2] }), [
    { a: "x", b: 1 },
    { a: "x", b: 2 },
    { a: "y", b: 1 },
    { a: "y", b: 2 },
  ]);
});

Deno.test("sub-sweeps are explored only under their level", () => {
  assertEquals(
    product({ p: ["a"], q: { "1": { r: ["x", "y"] }, "2": { s: [-10] } } }),
    [
      { p: "a", q: "1", r: "x" },
      { p: "a", q: "1", r: "y" },
      { p: "a", q: "2", s: -10 },
    ],
  );
});

Deno.test("a parameter without levels is left out", () => {
  assertEquals(product({ a: [1], b: [] }), [{ a: 1 }]);
});

Deno.test("--param levels read as JSON when they can", () => {
  assertEquals(
    parseParamOptions([
      "n=1,2",
      "name=a,b c",
      'algo={"sgd":{"lr":[0.1]},"adam":{}}',
      "l=[[1,2]]",
    ]),
    {
      n: [1, 2],
      name: ["a", "b c"],
      algo: { sgd: { lr: [0.1] }, adam: {} },
      l: [[1, 2]],
    },
  );
});

Deno.test("a malformed --param says what form it takes", () => {
  assertThrows(() => parseParamOptions(["size"]), ConfigError, /name=v1,v2/);
  assertThrows(
    () => parseParamOptions(["a={oops"]),
    ConfigError,
    /JSON list of levels/,
  );
  assertThrows(
    () => parseParamOptions(['a={"x":1}']),
    ConfigError,
    /sub-sweep/,
  );
});
