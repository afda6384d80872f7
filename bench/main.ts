/**
 * `deno task bench [NAME...]`: runs every benchmark script in this folder
 * (or those whose names contain one of NAME), one after the other so they do
 * not compete for the CPU. Each prints its own table of ratios, measured side
 * by side in one run.
 *
 * @module
 */

// deno-lint-ignore-file no-console
const here = new URL(".", import.meta.url).pathname;
const scripts = [...Deno.readDirSync(here)]
  .map((entry) => entry.name)
  .filter((name) =>
    name.endsWith(".ts") && name !== "main.ts" && !name.startsWith("_")
  )
  .filter((name) =>
    Deno.args.length === 0 || Deno.args.some((arg) => name.includes(arg))
  )
  .sort();
let failed = 0;
for (const script of scripts) {
  console.log(`\n## ${script}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}${script}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    console.log(`(${script} exited with ${code})`);
    failed++;
  }
}
Deno.exit(failed ? 1 : 0);
