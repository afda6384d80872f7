import { resolve } from "node:path";
import { assertEquals } from "../_assert.ts";
import { absolutePath } from "../../core/path.ts";

Deno.test("absolutePath makes a path absolute as Node's path.resolve does", () => {
  const paths = [
    "a.out",
    "./bin/a.out",
    "../x/../y/./z",
    "/usr//bin/",
    "/",
    ".",
    "..",
    "/../..",
    "dir/sub/",
    "a b/c",
  ];
  for (const path of paths) {
    assertEquals(absolutePath(path), resolve(path), path);
  }
  assertEquals(absolutePath("../b/./c", "/x/a"), "/x/b/c");
});
