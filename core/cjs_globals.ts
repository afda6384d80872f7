/**
 * Side-effect module: gives CommonJS npm packages the `__dirname` and
 * `__filename` globals they read while loading, once `deno bundle` has
 * inlined them into one ES module (where, unlike under Deno's npm loader,
 * nobody passes them in). Import it before such a package.
 *
 * The values name the bundle's own directory. They are only ever used to
 * find data files next to a package's sources (for instance google-gax's
 * `.proto` directory), which the engines built here never read: Pub/Sub's
 * client loads its protocol definitions from JSON inlined into the bundle.
 * Under `deno run` from source each package gets its own real values, which
 * take precedence over these.
 *
 * @module
 */

const scope = globalThis as { __dirname?: string; __filename?: string };
if (scope.__dirname === undefined) {
  const here = new URL(import.meta.url);
  scope.__filename = here.protocol === "file:" ? here.pathname : here.href;
  scope.__dirname = scope.__filename.replace(/\/[^/]*$/, "") || "/";
}
