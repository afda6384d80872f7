/**
 * The CLI fuzzer: random settings, flags, `.env` and `.minionize.yml` files
 * and param lines, each case run as a user would run it, every promise of
 * `_run.ts` checked.
 *
 * By default a few hundred cases, stopped early after FUZZ_BUDGET_S (50 s)
 * so the suite stays bounded on a slow machine. Environment variables:
 *
 * - `FUZZ_SEED`: the seed (default: a random one, printed);
 * - `FUZZ_CASES`: how many cases (default 250; setting it lifts the time
 *   budget unless `FUZZ_BUDGET_S` is given too);
 * - `FUZZ_CASE`: run only this case of the seed (to replay a failure);
 * - `FUZZ_JOBS`: cases at once (default 3);
 * - `FUZZ_TIMEOUT_S`: seconds before a case counts as hung (default 30);
 * - `FUZZ_KEEP=1`: keep every case's directory.
 *
 * A failure prints the seed, each failing case and the command to replay it.
 */

import { assertEquals } from "../_assert.ts";
import { ROOT } from "../_cli.ts";
import { generateCase } from "./_generate.ts";
import { Rng } from "./_rng.ts";
import {
  describeCase,
  type FuzzResult,
  makeTemplate,
  runCase,
} from "./_run.ts";

function setting(name: string): number | undefined {
  const text = Deno.env.get(name)?.trim();
  return text ? Number(text) : undefined;
}

Deno.test({
  name: "the CLI keeps its promises on random settings, files and params",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const seed = setting("FUZZ_SEED") ??
      crypto.getRandomValues(new Uint32Array(1))[0]!;
    const only = setting("FUZZ_CASE");
    const given = setting("FUZZ_CASES");
    const cases = only === undefined ? given ?? 250 : 1;
    const budgetS = setting("FUZZ_BUDGET_S") ??
      (given === undefined ? 50 : Infinity);
    const jobs = setting("FUZZ_JOBS") ?? 3;
    const timeoutMs = (setting("FUZZ_TIMEOUT_S") ?? 30) * 1000;
    const keep = Deno.env.get("FUZZ_KEEP") === "1" || only !== undefined;
    // deno-lint-ignore no-console
    console.log(`fuzz: seed ${seed} (FUZZ_SEED=${seed} to replay)`);

    const before = [...Deno.readDirSync(ROOT)].map((e) => e.name).sort();
    const root = await Deno.makeTempDir({ prefix: "minionize-fuzz-" });
    const template = await makeTemplate(root);
    const started = performance.now();
    const failures: FuzzResult[] = [];
    let next = 0;
    let ran = 0;
    const worker = async () => {
      while (next < cases) {
        if ((performance.now() - started) / 1000 > budgetS) return;
        const index = only ?? next;
        next++;
        const fuzz = generateCase(Rng.forCase(seed, index), index);
        const result = await runCase(fuzz, { root, template, timeoutMs, keep });
        ran++;
        if (result.problems.length > 0) failures.push(result);
      }
    };
    await Promise.all(Array.from({ length: jobs }, worker));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    // deno-lint-ignore no-console
    console.log(
      `fuzz: ${ran} cases in ${seconds} s, ${failures.length} failed`,
    );

    // Nothing outside the cases' directories, the run's or the repository's.
    const after = [...Deno.readDirSync(ROOT)].map((e) => e.name).sort();
    assertEquals(after, before, "files appeared in the repository");
    const stray = [...Deno.readDirSync(root)].map((e) => e.name)
      .filter((name) => name !== "_template" && !/^case-\d+$/.test(name));
    assertEquals(stray, [], `files appeared in ${root}`);

    if (failures.length === 0 && !keep) {
      await Deno.remove(root, { recursive: true });
      return;
    }
    if (failures.length > 0) {
      failures.sort((a, b) => a.fuzz.index - b.fuzz.index);
      throw new Error(
        `${failures.length} of ${ran} fuzz cases broke a promise (seed ${seed}):\n\n${
          failures.slice(0, 20).map(describeCase).join("\n\n")
        }\n\nReplay one: FUZZ_SEED=${seed} FUZZ_CASE=${
          failures[0]!.fuzz.index
        } deno test -A tests/fuzz/`,
      );
    }
  },
});
