import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { cliCommand, eventually, tempDir } from "../_cli.ts";
import { freePort } from "../services/harness.ts";
import { MinionStats } from "../../core/stats.ts";
import { parseStatsAddress, serveStats } from "../../runner/stats_server.ts";
import { ConfigError } from "../../core/errors.ts";
import { assertThrows } from "../_assert.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text format strictly: every sample belongs to a
 * family announced by HELP then TYPE, label values unescaped.
 */
function parseExposition(text: string): {
  types: Map<string, string>;
  samples: Sample[];
} {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  assert(text.endsWith("\n"), "the exposition ends with a line feed");
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line);
    if (help) {
      helps.add(help[1]!);
      continue;
    }
    const type =
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/
        .exec(line);
    if (type) {
      assert(helps.has(type[1]!), `HELP before TYPE of ${type[1]}`);
      assert(!types.has(type[1]!), `one TYPE line for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$/
        .exec(line);
    assert(sample, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (
      const [, key, value] of (sample[2] ?? "").matchAll(
        /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
      )
    ) {
      labels[key!] = value!.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
    }
    const value = sample[3] === "+Inf" ? Infinity : Number(sample[3]);
    assert(!Number.isNaN(value), `a number in ${line}`);
    const name = sample[1]!;
    const family = [...types.keys()].find((f) =>
      name === f || (types.get(f) === "histogram" &&
        [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(name))
    );
    assert(family, `${name} belongs to a family with a TYPE line`);
    if (types.get(family) === "counter") {
      assert(family.endsWith("_total"), `counter ${family} ends in _total`);
    }
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) =>
    s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}

Deno.test("a running minion serves /stats and /metrics that parse back to the same counts", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params.txt`, "1\n2\n3\n4\n5\n6\n");
  const port = freePort();
  // Param 3 fails, param 5 blocks: the minion is caught mid-queue.
  const child = cliCommand([
    "--engine",
    "file",
    "--stats",
    String(port),
    "sh",
    "-c",
    'case "$0" in 3) exit 3;; 5) exec sleep 60;; esac',
  ], { env: { FILE_PATH: `${dir}/params.txt` } }).spawn();
  try {
    const base = `http://127.0.0.1:${port}`;
    let stats: Record<string, unknown> = {};
    await eventually("the minion to reach param 5", async () => {
      try {
        stats = await (await fetch(`${base}/stats`)).json();
      } catch {
        return false;
      }
      return stats.done === 3 && stats.failed === 1 &&
        (stats.inFlight as unknown[]).length === 1;
    }, 60_000);
    assertEquals(stats.engine, "file");
    assertEquals(stats.state, "running");
    assertEquals(stats.remaining, 1);
    const inFlight = (stats.inFlight as { param: string; ageMs: number }[])[0]!;
    assertEquals(inFlight.param, "5");
    assert(inFlight.ageMs >= 0);
    const phases = stats.phases as Record<string, { count: number }>;
    assertEquals(phases.process!.count, 4);

    const response = await fetch(`${base}/metrics`);
    assertMatch(response.headers.get("content-type") ?? "", /^text\/plain/);
    const { types, samples } = parseExposition(await response.text());
    assertEquals(types.get("minionize_params_total"), "counter");
    assertEquals(types.get("minionize_phase_duration_seconds"), "histogram");
    assertEquals(types.get("minionize_params_in_flight"), "gauge");
    assertEquals(
      value(samples, "minionize_params_total", { outcome: "done" }),
      3,
    );
    assertEquals(
      value(samples, "minionize_params_total", { outcome: "failed" }),
      1,
    );
    assertEquals(value(samples, "minionize_params_in_flight"), 1);
    assertEquals(value(samples, "minionize_queue_remaining"), 1);
    assertEquals(
      value(samples, "minionize_info", { engine: "file" }),
      1,
    );
    for (const phase of ["next", "setup", "process", "teardown"]) {
      const buckets = samples.filter((s) =>
        s.name === "minionize_phase_duration_seconds_bucket" &&
        s.labels.phase === phase
      );
      const bounds = buckets.map((b) =>
        b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)
      );
      assertEquals(bounds, [...bounds].sort((a, b) => a - b));
      assertEquals(bounds.at(-1), Infinity);
      const counts = buckets.map((b) => b.value);
      assertEquals(counts, [...counts].sort((a, b) => a - b));
      const count = value(samples, "minionize_phase_duration_seconds_count", {
        phase,
      });
      assertEquals(counts.at(-1), count);
      assertEquals(count, 4);
      assert(
        value(samples, "minionize_phase_duration_seconds_sum", { phase })! >= 0,
      );
    }
    assertEquals((await fetch(`${base}/nothing`)).status, 404);
  } finally {
    child.kill("SIGTERM");
    const { code, stderr } = await child.output();
    assertEquals(code, 143, new TextDecoder().decode(stderr));
  }
  await eventually("the port to close", async () => {
    try {
      await fetch(`http://127.0.0.1:${port}/stats`);
      return false;
    } catch {
      return true;
    }
  });
});

Deno.test("a taken stats port is a setting error before any param is run", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/params.txt`, "1\n");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const { code, stdout, stderr } = await cliCommand(
      ["--engine", "file", "--stats", String(port), "echo", "ran"],
      { env: { FILE_PATH: `${dir}/params.txt` } },
    ).output();
    assertEquals(code, 2);
    assertEquals(new TextDecoder().decode(stdout), "");
    assertMatch(
      new TextDecoder().decode(stderr),
      /^minionize: error: Cannot serve stats on 127\.0\.0\.1:\d+: .*MINION_STATS/,
    );
  } finally {
    listener.close();
  }
});

Deno.test("a stats address is a port on 127.0.0.1, HOST:PORT or :PORT", () => {
  assertEquals(parseStatsAddress("9100"), {
    hostname: "127.0.0.1",
    port: 9100,
  });
  assertEquals(parseStatsAddress(":9100"), { hostname: "0.0.0.0", port: 9100 });
  assertEquals(parseStatsAddress("10.0.0.2:80"), {
    hostname: "10.0.0.2",
    port: 80,
  });
  assertEquals(parseStatsAddress("[::1]:9100"), {
    hostname: "::1",
    port: 9100,
  });
  for (const bad of ["", "http://x:1", "99999", "host:", "a b:1"]) {
    assertThrows(() => parseStatsAddress(bad), ConfigError, "MINION_STATS");
  }
});

Deno.test("metrics escape label values and count a slow run in the right bucket", () => {
  let now = 0;
  const stats = new MinionStats(
    { minion: 'odd"name\\x', host: "h\nx", pid: 1 },
    () => now,
  );
  now = 10_000;
  const base = {
    time: new Date(0).toISOString(),
    minion: "m",
    host: "h",
    pid: 1,
  };
  stats.report({
    type: "param.finished",
    ...base,
    seq: 1,
    param: "a",
    attempt: 1,
    outcome: "done",
    slot: 1,
    timings: { next: 0, setup: 0, process: 4000, teardown: 0 },
  });
  const { samples } = parseExposition(stats.prometheus());
  const info = samples.find((s) => s.name === "minionize_info")!;
  assertEquals(info.labels.minion, 'odd"name\\x');
  assertEquals(info.labels.host, "h\nx");
  const bucket = (le: string) =>
    value(samples, "minionize_phase_duration_seconds_bucket", {
      phase: "process",
      le,
    });
  assertEquals([bucket("2.5"), bucket("5"), bucket("+Inf")], [0, 1, 1]);
  assertEquals(
    value(samples, "minionize_phase_duration_seconds_sum", {
      phase: "process",
    }),
    4,
  );
  assertEquals(stats.snapshot().rate, 0.1);
});

Deno.test("a minion's /stats names the batch job it runs in", () => {
  const stats = new MinionStats({ minion: "m", host: "h", pid: 1 });
  assertEquals(stats.snapshot().job, undefined);
  stats.report({
    type: "minion.started",
    time: new Date().toISOString(),
    minion: "m",
    host: "h",
    pid: 1,
    job: { scheduler: "oar", id: "57" },
    engine: "file",
    callback: "process",
    concurrency: 1,
  });
  assertEquals(stats.snapshot().job, "oar 57");
});

Deno.test("a queue that never answers its count leaves it out of the page, and the server still closes", async () => {
  const stats = new MinionStats({ minion: "m", host: "h", pid: 1 });
  const server = serveStats(stats, { hostname: "127.0.0.1", port: 0 }, {
    remaining: () => new Promise<number>(() => {}),
  });
  const page = await fetch(`${server.url}/metrics`, {
    signal: AbortSignal.timeout(10_000),
  });
  const text = await page.text();
  assertEquals(page.status, 200);
  assert(!text.includes("minionize_queue_remaining"), text);
  await server.close();
});
