/**
 * `deno task bundle [OUTPUT]`: writes the whole CLI, every engine and their
 * npm dependencies into one JavaScript file (default `dist/minionize.js`)
 * that `deno run -A minionize.js ...` runs anywhere, with nothing to fetch.
 *
 * A plain `deno bundle -o` file holds about 12 MB of JavaScript that V8
 * scans at every start (2.3 to 5 times the start time of `deno run cli.ts`,
 * `bench/bundle_startup.ts`), although a minion uses one engine. So the code is
 * cut into chunks by `deno bundle --code-splitting` (the CLI, each command,
 * each engine and what they share), each chunk is kept at the end of the
 * file (gzipped when large), and a small loader turns a chunk into a module
 * (a `blob:` URL) the first time it is imported. A minion parses the core
 * and its own engine only. (Stack traces, with `--debug`, name those `blob:`
 * URLs.)
 *
 * Rewritten in each chunk, so that the chunks run from blobs:
 * - imports of another chunk: a static one names the chunk's blob URL, a
 *   dynamic one asks the loader;
 * - `import.meta.url` is the file's own URL, and `import.meta.main` holds
 *   for the CLI's chunk only when the file itself is the main module;
 * - the Kafka client's WebAssembly, which its package reads from a file
 *   beside its code, is put inline.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const ENTRY = "cli.ts";
/** The global the loader publishes itself under, for the chunks. */
const GLOBAL = `globalThis[Symbol.for("minionize.bundle")]`;
/** How a static import of chunk NAME is written until its blob exists. */
const PLACEHOLDER = "minionize-chunk:";
/**
 * The CommonJS `require` of the bundle's runtime chunk, as `deno bundle`
 * writes it: importing `node:module` starts Deno's Node compatibility layer
 * (about 9 MB and 20 ms) in every process, even one that prints --version.
 */
const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\nvar __require = __deno_internal_createRequire(import.meta.url);';
/** The same `require`, made on first use (by an npm package, in an engine). */
const LAZY_REQUIRE =
  'var __deno_internal_require;\nvar __require = (id) => (__deno_internal_require ??= globalThis.process.getBuiltinModule("node:module").createRequire(import.meta.url))(id);';
/** The Kafka client's WebAssembly reader, as esbuild leaves it. */
const WASM_READ =
  'readFileSync(new URL("../dist/native.wasm", import.meta.url))';

/** Chunks smaller than this many characters are kept uncompressed. */
const RAW_BELOW = 64 * 1024;

/** A chunk as the file keeps it: base64 of its text, gzipped or not. */
interface Packed {
  data: string;
  gzipped: boolean;
}

/** What {@linkcode bundle} built. */
export interface BundleResult {
  /** Where the file was written. */
  output: string;
  /** Its size in bytes. */
  bytes: number;
  /** How many chunks it holds. */
  chunks: number;
}

/**
 * Bundles `cli.ts` into `output`.
 *
 * @throws {Error} when `deno bundle` fails or its output is not as expected
 */
export async function bundle(output: string): Promise<BundleResult> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-bundle-" });
  try {
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--code-splitting", "--outdir", dir, ENTRY],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!built.success) {
      throw new Error(
        `Cannot bundle ${ENTRY}: deno bundle failed: ${
          new TextDecoder().decode(built.stderr).trim()
        }`,
      );
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((name) => name.endsWith(".js")).sort();
    const entry = ENTRY.replace(/\.ts$/, ".js");
    if (!names.includes(entry)) {
      throw new Error(`Cannot bundle ${ENTRY}: no ${entry} among ${names}`);
    }
    const texts = new Map<string, string>();
    let wasmInlined = 0;
    let lazyRequires = 0;
    for (const name of names) {
      const inlined = await inlineWasm(
        await Deno.readTextFile(`${dir}/${name}`),
      );
      wasmInlined += inlined.count;
      const parts = inlined.text.split(EAGER_REQUIRE);
      lazyRequires += parts.length - 1;
      const text = rewrite(parts.join(LAZY_REQUIRE), name === entry, names);
      const left = /\bimport\.meta\b.{0,20}/.exec(text);
      if (left) {
        throw new Error(
          `Cannot bundle ${ENTRY}: chunk ${name} uses '${
            left[0]
          }', which a chunk made into a blob: module cannot`,
        );
      }
      texts.set(name, text);
    }
    if (wasmInlined !== 1) {
      throw new Error(
        `Cannot bundle ${ENTRY}: expected the Kafka client's WebAssembly read once, found it ${wasmInlined} times (did @platformatic/wasm-utils change?)`,
      );
    }
    if (lazyRequires !== 1) {
      throw new Error(
        `Cannot bundle ${ENTRY}: expected deno bundle's require shim once, found it ${lazyRequires} times (did deno bundle change?)`,
      );
    }
    checkAcyclic(texts);
    const packed: Record<string, Packed> = {};
    for (const [name, text] of texts) {
      // Small chunks (the CLI, the core, the file engine) are left
      // uncompressed: a minion unpacks them at every start, and
      // decompressing costs more time there than their bytes do.
      packed[name] = text.length < RAW_BELOW
        ? { data: base64(new TextEncoder().encode(text)), gzipped: false }
        : { data: await gzipBase64(text), gzipped: true };
    }
    const file = loader(packed, entry);
    const target = resolve(output);
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeTextFile(target, file);
    return { output: target, bytes: file.length, chunks: names.length };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Throws when chunks import each other statically in a cycle: the loader
 * makes a chunk's blob only once those it imports have theirs.
 */
function checkAcyclic(texts: Map<string, string>): void {
  const deps = new Map(
    [...texts].map(([name, text]) => [name, staticImports(text)]),
  );
  const done = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (done.has(name)) return;
    if (path.includes(name)) {
      throw new Error(
        `Cannot bundle ${ENTRY}: chunks import each other in a cycle: ${
          [...path.slice(path.indexOf(name)), name].join(" -> ")
        }`,
      );
    }
    for (const dep of deps.get(name) ?? []) visit(dep, [...path, name]);
    done.add(name);
  };
  for (const name of deps.keys()) visit(name, []);
}

/** The chunks a rewritten chunk imports statically. */
function staticImports(text: string): string[] {
  const pattern = new RegExp(`"${PLACEHOLDER}([^"]+)"`, "g");
  return [...new Set([...text.matchAll(pattern)].map((m) => m[1]!))];
}

/** Rewrites a chunk's imports and `import.meta` for the loader. */
function rewrite(text: string, isEntry: boolean, names: string[]): string {
  const chunk = new Set(names);
  return text
    .replace(
      /\bimport\(\s*"\.\/([^"]+)"\s*\)/g,
      (whole, name: string) =>
        chunk.has(name) ? `${GLOBAL}.import(${JSON.stringify(name)})` : whole,
    )
    .replace(
      /(\bfrom\s*|\bimport\s*)"\.\/([^"]+)"/g,
      (whole, keyword: string, name: string) =>
        chunk.has(name) ? `${keyword}"${PLACEHOLDER}${name}"` : whole,
    )
    .replaceAll("import.meta.url", `${GLOBAL}.url`)
    .replaceAll("import.meta.main", isEntry ? `${GLOBAL}.main` : "false");
}

/**
 * Replaces `@platformatic/wasm-utils`' read of `native.wasm` with the
 * bytes themselves, found from the path esbuild writes above each module.
 */
async function inlineWasm(
  text: string,
): Promise<{ text: string; count: number }> {
  const at = text.indexOf(WASM_READ);
  if (at < 0) return { text, count: 0 };
  const header = text.lastIndexOf("\n// ", at);
  const source = text.slice(header + 4, text.indexOf("\n", header + 1));
  if (!source.endsWith("/@platformatic/wasm-utils/0.2.1/dist/index.js")) {
    throw new Error(
      `Cannot bundle ${ENTRY}: the WebAssembly read is in '${source}', not in @platformatic/wasm-utils 0.2.1's dist/index.js`,
    );
  }
  const wasm = await Deno.readFile(
    resolve(ROOT, dirname(source), "native.wasm"),
  );
  const inline = `Uint8Array.fromBase64("${base64(wasm)}")`;
  const rest = text.slice(at + WASM_READ.length);
  return {
    text: text.slice(0, at) + inline + rest,
    count: 1 + (rest.includes(WASM_READ) ? 1 : 0),
  };
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function gzipBase64(text: string): Promise<string> {
  const stream = new Blob([text]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return base64(new Uint8Array(await new Response(stream).arrayBuffer()));
}

/**
 * The file: the loader, then the packed chunks in a comment that the loader
 * reads through `Function.prototype.toString`. A comment costs V8 only the
 * script's own source text, where string literals of that size would be
 * copied into the heap and into the code cache as well (about 17 MB more
 * for 2 MB of chunks).
 */
function loader(packed: Record<string, Packed>, entry: string): string {
  let data = "";
  const index: Record<string, [number, number, number]> = {};
  for (const [name, chunk] of Object.entries(packed)) {
    index[name] = [data.length, chunk.data.length, chunk.gzipped ? 1 : 0];
    data += chunk.data;
  }
  return `// minionize, bundled by scripts/bundle.ts: run it with
// deno run -A minionize.js --help
// The chunks at the end are JavaScript in base64, gzipped when large (index:
// name -> [offset, length, gzipped]), each made into a module when first
// imported.
const index = ${JSON.stringify(index)};
const urls = new Map();
let source;
async function unpack(name) {
  const at = index[name];
  if (at === undefined) throw new Error(\`minionize.js holds no chunk '\${name}'\`);
  source ??= payload.toString();
  const start = source.indexOf("/*") + 2 + at[0];
  const bytes = Uint8Array.fromBase64(source.slice(start, start + at[1]));
  let text = at[2]
    ? await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
    : new TextDecoder().decode(bytes);
  const deps = [...new Set([...text.matchAll(/"${PLACEHOLDER}([^"]+)"/g)].map((m) => m[1]))];
  const made = await Promise.all(deps.map(url));
  deps.forEach((dep, i) => {
    text = text.replaceAll(\`"${PLACEHOLDER}\${dep}"\`, JSON.stringify(made[i]));
  });
  return URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
}
function url(name) {
  let found = urls.get(name);
  if (!found) urls.set(name, found = unpack(name));
  return found;
}
${GLOBAL} = {
  url: import.meta.url,
  main: import.meta.main,
  import: async (name) => await import(await url(name)),
};
await ${GLOBAL}.import(${JSON.stringify(entry)});
function payload() {/*${data}*/}
`;
}

if (import.meta.main) {
  // deno task runs in the clone: a relative OUTPUT is the caller's (INIT_CWD).
  const from = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const output = resolve(from, Deno.args[0] ?? `${ROOT}dist/minionize.js`);
  const result = await bundle(output);
  console.error(
    `minionize: wrote ${result.output} (${
      (result.bytes / 1e6).toFixed(1)
    } MB, ${result.chunks} chunks)`,
  );
}
