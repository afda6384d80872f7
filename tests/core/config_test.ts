import { assertEquals, assertThrows } from "../_assert.ts";
import { readLease, readSettings } from "../../core/config.ts";
import { ConfigError } from "../../core/errors.ts";

Deno.test("settings default to the original's values", () => {
  const settings = readSettings({ MINION_ENGINE: "file" });
  assertEquals(settings, {
    engine: "file",
    reporter: "null",
    concurrency: 1,
    retries: 0,
    timeoutMs: undefined,
    dryRun: false,
    shell: false,
    results: undefined,
    maxParams: undefined,
    idleExitMs: undefined,
    graceMs: 5000,
    walltimeMs: undefined,
    stats: undefined,
    bar: false,
    heartbeatMs: 30_000,
    quiet: false,
    gpusPerTask: undefined,
    cpusPerTask: undefined,
  });
});

Deno.test("numbers, durations and yes/no values are read from variables", () => {
  const settings = readSettings({
    MINION_ENGINE: "file",
    MINION_CONCURRENCY: "8",
    MINION_RETRIES: "2",
    MINION_TIMEOUT: "1.5",
    DRY: "yes",
    MINION_REPORTER: "json",
  });
  assertEquals([
    settings.concurrency,
    settings.retries,
    settings.timeoutMs,
    settings.dryRun,
    settings.reporter,
  ], [
    8,
    2,
    1500,
    true,
    "json",
  ]);
});

Deno.test("a malformed number names the variable, its flag and an example", () => {
  const error = assertThrows(
    () => readSettings({ MINION_ENGINE: "file", MINION_CONCURRENCY: "two" }),
    ConfigError,
  );
  assertEquals(
    (error as ConfigError).message,
    "MINION_CONCURRENCY (-j) is 'two': expected a whole number of at least 1, e.g. MINION_CONCURRENCY=2",
  );
  assertThrows(
    () => readSettings({ MINION_ENGINE: "file", MINION_CONCURRENCY: "0" }),
    ConfigError,
  );
  assertThrows(
    () => readSettings({ MINION_ENGINE: "file", MINION_TIMEOUT: "-1" }),
    ConfigError,
    /MINION_TIMEOUT/,
  );
  assertThrows(
    () => readSettings({ MINION_ENGINE: "file", DRY: "maybe" }),
    ConfigError,
    /DRY/,
  );
});

Deno.test("an unknown engine or reporter lists the known ones", () => {
  assertThrows(
    () => readSettings({ MINION_ENGINE: "rediss" }),
    ConfigError,
    /'rediss': expected one of .*file/,
  );
  assertThrows(
    () => readSettings({ MINION_ENGINE: "file", MINION_REPORTER: "xml" }),
    ConfigError,
    /null, stdout, json/,
  );
});

Deno.test("MINION_LEASE is read in seconds, 60 by default, and checked", () => {
  assertEquals(readLease({}), 60_000);
  assertEquals(readLease({ MINION_LEASE: "2.5" }), 2_500);
  assertThrows(
    () => readLease({ MINION_LEASE: "soon" }),
    ConfigError,
    /MINION_LEASE is 'soon'/,
  );
});
