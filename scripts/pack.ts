/**
 * `deno task pack [DIR]`: writes a directory (default `dist/minionize-node`)
 * to copy onto nodes that have no internet and no Deno:
 *
 * - `deno`, this Deno binary (same OS and CPU as this machine);
 * - `minionize.js`, the single-file bundle of `deno task bundle`;
 * - `minionize`, a wrapper that runs the second with the first.
 *
 * Nothing else is needed on the node: the bundle carries every engine and
 * its npm packages, and the wrapper forbids Deno to fetch anything.
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { bundle } from "./bundle.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * The wrapper: follows symlinks to find its directory, and runs the bundle
 * with no configuration file, lockfile or fetching (`--no-remote --no-npm`),
 * nor Deno's update check, whatever directory it is started in.
 */
const WRAPPER = `#!/bin/sh
# minionize, run by the Deno binary beside this file (made by deno task pack)
here="$(dirname "$(readlink -f "$0")")"
DENO_NO_UPDATE_CHECK=1 exec "$here/deno" run -A --no-config --no-lock --no-remote --no-npm "$here/minionize.js" "$@"
`;

/** What {@linkcode pack} wrote. */
export interface PackResult {
  /** The directory. */
  dir: string;
  /** The wrapper to run, `DIR/minionize`. */
  command: string;
}

/**
 * Writes the node directory `dir`.
 *
 * @throws {Error} when the bundle cannot be built
 */
export async function pack(dir: string): Promise<PackResult> {
  const target = resolve(dir);
  await Deno.mkdir(target, { recursive: true });
  await bundle(`${target}/minionize.js`);
  await Deno.copyFile(Deno.execPath(), `${target}/deno`);
  await Deno.chmod(`${target}/deno`, 0o755);
  await Deno.writeTextFile(`${target}/minionize`, WRAPPER);
  await Deno.chmod(`${target}/minionize`, 0o755);
  return { dir: target, command: `${target}/minionize` };
}

if (import.meta.main) {
  // deno task runs in the clone: a relative DIR is the caller's (INIT_CWD).
  const from = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  const { dir, command } = await pack(
    resolve(from, Deno.args[0] ?? `${ROOT}dist/minionize-node`),
  );
  console.log(`wrote ${dir}: deno, minionize.js and the wrapper minionize`);
  console.log(
    `copy it to the nodes (same OS and CPU as here) and run ${command}, or put ${dir} on PATH`,
  );
}
