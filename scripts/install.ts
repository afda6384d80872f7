/**
 * `deno task install`: puts `minionize` on PATH from this clone. It runs
 * `deno install -g` on `cli.ts` with this clone's `deno.json` (so the
 * installed command keeps its pinned versions and settings wherever it is
 * run), fetches every npm package it may load once, now, and checks that the
 * command runs. The command runs the clone's sources: keep the clone where
 * it is (a `git pull` updates it).
 *
 * It goes where `deno install -g` puts commands: `$DENO_INSTALL_ROOT/bin`,
 * by default `~/.deno/bin`; extra arguments go to `deno install` (e.g.
 * `deno task install --root ~/.local` for `~/.local/bin`).
 *
 * @module
 */

// deno-lint-ignore-file no-console
import { fileURLToPath } from "node:url";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const NAME = "minionize";

/** `bin` of the root `deno install -g` uses for `args`. */
function binDir(args: string[]): string {
  const at = args.indexOf("--root");
  const given = at >= 0
    ? args[at + 1]
    : args.find((a) => a.startsWith("--root="))?.slice("--root=".length);
  const root = given ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    `${Deno.env.get("HOME")}/.deno`;
  return `${root.replace(/\/$/, "")}/bin`;
}

const extra = Deno.args;
console.log(
  `installing ${NAME} from ${ROOT} (the first time, Deno fetches its npm packages: seconds to a minute)`,
);
const installed = await new Deno.Command(Deno.execPath(), {
  args: [
    "install",
    "--global",
    "--allow-all",
    "--force",
    "--quiet",
    "--name",
    NAME,
    "--config",
    `${ROOT}deno.json`,
    ...extra,
    `${ROOT}cli.ts`,
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (!installed.success) {
  console.error(
    `minionize: error: deno install failed (exit ${installed.code})`,
  );
  Deno.exit(1);
}
const command = `${binDir(extra)}/${NAME}`;
const check = await new Deno.Command(command, {
  args: ["--version"],
  stdout: "piped",
  stderr: "inherit",
}).output();
const version = new TextDecoder().decode(check.stdout).trim();
if (!check.success) {
  console.error(`minionize: error: installed ${command}, but it does not run`);
  Deno.exit(1);
}
console.log(`installed ${command} (${version}, running ${ROOT}cli.ts)`);
const path = (Deno.env.get("PATH") ?? "").split(":");
if (!path.includes(binDir(extra))) {
  console.log(
    `${binDir(extra)} is not on PATH: add it, e.g. in ~/.bashrc:\n` +
      `  export PATH="${binDir(extra)}:$PATH"`,
  );
}
