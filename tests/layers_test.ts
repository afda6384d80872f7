/**
 * The layers of the code point one way, and no module imports itself back
 * through others:
 *
 * 0. `core/`: contracts, the loop, readers and helpers;
 * 1. the plug-ins, `engines/`, `callbacks/`, `reporters/`: core, their
 *    own files and their kind's shared kit (`engines/_broker/`,
 *    `callbacks/_spawn.ts`) only, never another plug-in;
 * 2. `runner/` and `schedulers/`: settings, the registry, launch and
 *    `minionize()`, above the plug-ins;
 * 3. `commands/` and `cli.ts`, the command line;
 * 4. `mod.ts`, the front door.
 *
 * Read from `deno info`, dynamic imports included.
 */

import { assert, assertEquals } from "./_assert.ts";
import { ROOT } from "./_cli.ts";

interface ModuleInfo {
  specifier: string;
  dependencies?: { code?: { specifier: string } }[];
}

/** Every module of this repository reachable from the entries, with its imports. */
async function graph(entries: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const entry of entries) {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${ROOT}${entry}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    const info = JSON.parse(new TextDecoder().decode(result.stdout)) as {
      modules: ModuleInfo[];
    };
    for (const module of info.modules) {
      const name = local(module.specifier);
      if (name === undefined) continue;
      const deps = (module.dependencies ?? [])
        .map((dep) => dep.code && local(dep.code.specifier))
        .filter((dep): dep is string => dep !== undefined);
      out.set(name, [...new Set([...(out.get(name) ?? []), ...deps])]);
    }
  }
  return out;
}

/** A module's path in this repository, or undefined for any other. */
function local(specifier: string): string | undefined {
  const prefix = `file://${ROOT}`;
  return specifier.startsWith(prefix)
    ? specifier.slice(prefix.length)
    : undefined;
}

/**
 * The layer of a module, and its plug-in group when it is a plug-in. A
 * kit shared by plug-ins of one kind (a folder or file starting with `_`,
 * e.g. `engines/_broker/`) is a group of its own that they may all use.
 */
function layerOf(
  path: string,
): { layer: number; group?: string; kit?: string } {
  if (path.startsWith("core/")) return { layer: 0 };
  const kit = /^(engines|callbacks|reporters)\/_/.exec(path);
  if (kit) return { layer: 1, group: path, kit: kit[1]! };
  const plugIn = /^(engines|callbacks|reporters)\/([a-z0-9]+)/.exec(path);
  if (plugIn) return { layer: 1, group: `${plugIn[1]}/${plugIn[2]}` };
  if (path.startsWith("runner/") || path.startsWith("schedulers/")) {
    return { layer: 2 };
  }
  if (path.startsWith("commands/") || path === "cli.ts") return { layer: 3 };
  return { layer: 4 };
}

const ENTRIES = ["mod.ts", "cli.ts"];

Deno.test("layers point one way: core, plug-ins, runner, commands", async () => {
  const modules = await graph(ENTRIES);
  const wrong: string[] = [];
  for (const [from, deps] of modules) {
    const mine = layerOf(from);
    for (const to of deps) {
      const theirs = layerOf(to);
      const upward = theirs.layer > mine.layer;
      const ownKit = theirs.kit !== undefined &&
        mine.group?.startsWith(`${theirs.kit}/`);
      const sideways = mine.layer === 1 && theirs.layer === 1 &&
        mine.group !== theirs.group && !ownKit;
      if (upward || sideways) wrong.push(`${from} -> ${to}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("the Pulsar client stands alone, and its engine uses only its front", async () => {
  const modules = await graph(ENTRIES);
  const client = "engines/pulsar/client/";
  const wrong: string[] = [];
  for (const [from, deps] of modules) {
    for (const to of deps) {
      const inside = from.startsWith(client);
      if (inside && !to.startsWith(client)) wrong.push(`${from} -> ${to}`);
      if (!inside && to.startsWith(client) && to !== `${client}mod.ts`) {
        wrong.push(`${from} -> ${to}`);
      }
    }
  }
  assert(modules.has(`${client}mod.ts`), "the client's front is in the graph");
  assertEquals(wrong, []);
});

Deno.test("no module imports itself back through others", async () => {
  const modules = await graph(ENTRIES);
  // Tarjan's strongly connected components: any with two modules or more
  // is a cycle.
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    indexOf.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of modules.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indexOf.get(next)!));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const node of modules.keys()) if (!indexOf.has(node)) visit(node);
  assertEquals(cycles, []);
});
