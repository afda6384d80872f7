import { assertEquals, assertThrows } from "../_assert.ts";
import { readLease } from "../../core/env.ts";
import { readSettings } from "../../runner/config.ts";
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
    "MINION_CONCURRENCY (-j) is 'two': expected a whole number from 1 to 10000, e.g. MINION_CONCURRENCY=2",
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

Deno.test("every numeric setting has an upper bound, named in its message", () => {
  const cases: [string, string, RegExp][] = [
    ["MINION_CONCURRENCY", "10000000", /from 1 to 10000\b/],
    ["MINION_CONCURRENCY", "100000000000000000000", /from 1 to 10000\b/],
    ["MINION_RETRIES", "1000000", /from 0 to 1000\b/],
    ["MINION_MAX_PARAMS", "99999999999999999999", /from 1 to 1000000000\b/],
    ["MINION_TIMEOUT", "40000000", /from 0\.001 to 31536000 \(365 days\)/],
    ["MINION_TIMEOUT", "0.0001", /from 0\.001 to/],
    ["MINION_IDLE_EXIT", "40000000", /to 31536000 \(365 days\)/],
    ["MINION_GRACE", "3000000", /to 86400 \(1 day\)/],
    ["MINION_HEARTBEAT", "3000000", /from 0\.1 to 86400 \(1 day\)/],
    ["MINION_HEARTBEAT", "0.01", /from 0\.1 to/],
    ["MINION_WALLTIME", "400-00:00:00", /to 365 days/],
    ["MINION_GPUS_PER_TASK", "2000", /from 1 to 1024\b/],
    ["MINION_CPUS_PER_TASK", "100000", /from 1 to 65536\b/],
  ];
  for (const [variable, value, message] of cases) {
    assertThrows(
      () => readSettings({ MINION_ENGINE: "file", [variable]: value }),
      ConfigError,
      message,
    );
  }
  // The largest values are taken, and long delays are kept whole: the
  // timers that wait for them are chained (core/timer.ts).
  const settings = readSettings({
    MINION_ENGINE: "file",
    MINION_CONCURRENCY: "10000",
    MINION_TIMEOUT: "31536000",
    MINION_IDLE_EXIT: "3000000",
    MINION_GRACE: "86400",
  });
  assertEquals(
    [settings.concurrency, settings.timeoutMs, settings.idleExitMs],
    [10_000, 31_536_000_000, 3_000_000_000],
  );
  assertEquals(settings.graceMs, 86_400_000);
});

Deno.test("MINION_LEASE takes 1 s to a day", () => {
  assertEquals(readLease({ MINION_LEASE: "86400" }), 86_400_000);
  for (const value of ["10000000", "0.5", "0"]) {
    assertThrows(
      () => readLease({ MINION_LEASE: value }),
      ConfigError,
      /MINION_LEASE is '.*': expected a number of seconds from 1 to 86400 \(1 day\)/,
    );
  }
});
