/**
 * The single-file bundle, built the way `deno task bundle` builds it and
 * run the way a user runs it: `deno run -A minionize.js` from a directory
 * holding nothing else.
 *
 * @module
 */

import { bundle } from "../scripts/bundle.ts";

/** What one run of the bundle printed and returned. */
export interface BundleRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A bundle copied alone into an empty directory. */
export interface BundleDir {
  /** The directory: `minionize.js` and whatever its runs wrote. */
  dir: string;
  /** Runs `deno run -A minionize.js ...args` in `dir`. */
  run(
    args: string[],
    options?: { env?: Record<string, string>; stdin?: string },
  ): Promise<BundleRun>;
  /** Removes the directory. */
  remove(): Promise<void>;
}

/** Builds the bundle into a fresh empty directory. */
export async function bundleDir(): Promise<BundleDir> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-bundle-run-" });
  await bundle(`${dir}/minionize.js`);
  return {
    dir,
    async run(args, options = {}) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "minionize.js", ...args],
        cwd: dir,
        env: { NO_COLOR: "1", ...options.env },
        stdin: options.stdin === undefined ? "null" : "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      if (options.stdin !== undefined) {
        const writer = child.stdin.getWriter();
        await writer.write(new TextEncoder().encode(options.stdin));
        await writer.close();
      }
      const output = await child.output();
      const decoder = new TextDecoder();
      return {
        code: output.code,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
      };
    },
    async remove() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Writes the bundle to `path` (as `deno task bundle` does) and returns it. */
export async function buildBundle(path: string): Promise<string> {
  return (await bundle(path)).output;
}
