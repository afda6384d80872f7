import { assertEquals } from "./_assert.ts";
import { ROOT } from "./_cli.ts";

interface ModuleInfo {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier: string };
    isDynamic?: boolean;
  }[];
  npmPackage?: string;
}

/** Modules reachable from `entries` through static imports only. */
async function staticClosure(entries: string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const entry of entries) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${ROOT}${entry}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: ModuleInfo[];
    };
    const byName = new Map(graph.modules.map((m) => [m.specifier, m]));
    const stack = [`file://${ROOT}${entry}`];
    while (stack.length) {
      const specifier = stack.pop()!;
      if (seen.has(specifier)) continue;
      seen.add(specifier);
      for (const dep of byName.get(specifier)?.dependencies ?? []) {
        if (!dep.isDynamic && dep.code) stack.push(dep.code.specifier);
      }
    }
  }
  return seen;
}

Deno.test("a file-engine minion loads no other engine and no broker client", async () => {
  // What `minionize echo` with MINION_ENGINE=file loads: the CLI, the run
  // command (imported when no subcommand is named), the file engine and a reporter.
  const loaded = await staticClosure([
    "cli.ts",
    "commands/run.ts",
    "engines/file.ts",
    "reporters/json.ts",
  ]);
  const engines = [...loaded].filter((s) => s.includes("/engines/")).map((s) =>
    s.slice(s.indexOf("/engines/") + 1)
  );
  assertEquals(engines, ["engines/file.ts"]);
  const packages = [...loaded].filter((s) => s.startsWith("npm:")).map((s) =>
    s.replace(/^npm:\/?/, "").replace(/@[^@/]*$/, "")
  )
    .sort();
  // dotenv is loaded only when there is a `.env` to read.
  assertEquals(packages, ["shlex"]);
});

Deno.test("a file-engine minion loads no Node module before its first task", async () => {
  // Loading Node's modules takes about as long as Deno's own start-up:
  // they come only with what needs them (standard input read at an
  // offset, a `.env` file, a broker client).
  const loaded = await staticClosure([
    "cli.ts",
    "commands/run.ts",
    "engines/file.ts",
    "reporters/null.ts",
    "callbacks/process.ts",
  ]);
  assertEquals([...loaded].filter((s) => s.startsWith("node:")), []);
});
