import { assertEquals, assertThrows } from "../_assert.ts";
import { parseArgs } from "../../commands/_args.ts";
import { ConfigError } from "../../core/errors.ts";
import { RUN_OPTIONS } from "../../commands/run.ts";
import { split } from "shlex";

Deno.test("options stop at the program; its own options stay its own", () => {
  const parsed = parseArgs([
    "-j",
    "4",
    "--retries=2",
    "--dry-run",
    "grep",
    "-j",
    "--x",
  ], RUN_OPTIONS);
  assertEquals(parsed.variables, {
    MINION_CONCURRENCY: "4",
    MINION_RETRIES: "2",
    DRY: "1",
  });
  assertEquals(parsed.rest, ["grep", "-j", "--x"]);
});

Deno.test("-- ends the options and a glued short value is read", () => {
  const parsed = parseArgs(["-j8", "--", "--weird-program"], RUN_OPTIONS);
  assertEquals(parsed.variables, { MINION_CONCURRENCY: "8" });
  assertEquals(parsed.rest, ["--weird-program"]);
});

Deno.test("an unknown option or a missing value is a ConfigError", () => {
  assertThrows(
    () => parseArgs(["--jobz", "2", "echo"], RUN_OPTIONS),
    ConfigError,
    /unknown option '--jobz'/,
  );
  assertThrows(
    () => parseArgs(["--timeout"], RUN_OPTIONS),
    ConfigError,
    /needs a value/,
  );
  assertThrows(
    () => parseArgs(["--shell=yes", "x"], RUN_OPTIONS),
    ConfigError,
    /takes no value/,
  );
});

Deno.test("a repeatable option collects its values as shell words, each whole", () => {
  const specs = [{
    long: "--opt",
    value: "V",
    variable: "OPTS",
    repeatable: true,
    help: "",
  }];
  const { variables, rest } = parseArgs(
    ["--opt=-v", "--opt", "/a b:/data", "--opt=it's", "prog"],
    specs,
  );
  assertEquals(rest, ["prog"]);
  assertEquals(split(variables.OPTS!), ["-v", "/a b:/data", "it's"]);
});
