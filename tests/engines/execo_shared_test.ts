/**
 * The execo engine where it lives: minions on two filesystem clients of one
 * sweep directory, in the three profiles of the test services (GlusterFS
 * with its caches off, GlusterFS's defaults, bindfs mounts whose locks stay
 * on their own mount). Each minion records what it ran on the local disk,
 * where nothing is shared.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import { scanRecords } from "../../engines/execo/log.ts";
import { LOG } from "../../engines/execo/store.ts";
import { createSweep } from "../../engines/execo/sweep.ts";
import { runCli } from "../_cli.ts";
import {
  type SharedFs,
  sharedFsAvailable,
  type SharedFsProfile,
  startSharedFs,
} from "../services/shared_fs.ts";
import { type MinionProcess, spawnMinion } from "./_minions.ts";
import { chaos } from "./_chaos.ts";

/** Appends `MINION_ID` to a local file named after the param. */
const MARK = ["sh", "-c", 'echo "$MINION_ID" >> "$0/$1"'];

interface Job {
  fs: SharedFs;
  /** The sweep as each client sees it. */
  dirs: string[];
  /** Local directory of run marks. */
  marks: string;
}

async function job(profile: SharedFsProfile, params: number): Promise<Job> {
  const fs = await startSharedFs(profile, { mounts: 2 });
  const name = `sweep-${crypto.randomUUID().slice(0, 8)}`;
  (await createSweep(
    `${fs.mounts[0]}/${name}`,
    Array.from({ length: params }, (_, i) => i),
  )).store.close();
  const marks = await Deno.makeTempDir({ prefix: "execo-shared-marks-" });
  return { fs, dirs: fs.mounts.map((m) => `${m}/${name}`), marks };
}

/** Runs by param: the `MINION_ID`s that ran it. */
async function runs(marks: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const entry of Deno.readDir(marks)) {
    const text = await Deno.readTextFile(`${marks}/${entry.name}`);
    out.set(entry.name, text.trim().split("\n"));
  }
  return out;
}

function minion(
  dir: string,
  marks: string,
  env: Record<string, string> = {},
): MinionProcess {
  return spawnMinion(
    { EXECO_PERSISTENCE_DIR: dir, ...env },
    ["-j", "2", ...MARK, marks],
  );
}

/** Checks that every byte of the journal reads as records. */
async function journalReads(dir: string): Promise<void> {
  const scan = scanRecords(await Deno.readFile(`${dir}/${LOG}`));
  assertEquals(scan.invalidAt, undefined, `the journal is damaged in ${dir}`);
}

const PROFILES: [SharedFsProfile, string][] = [
  ["coherent", "GlusterFS, caches off"],
  ["default", "GlusterFS, its default caches"],
  ["lock-local", "bindfs, locks on one mount only"],
];

for (const [profile, what] of PROFILES) {
  Deno.test({
    name:
      `execo engine on two clients (${what}): 1,500 params run once each and the sweep reads from both`,
    ignore: !sharedFsAvailable(profile),
    async fn() {
      const { fs, dirs, marks } = await job(profile, 1500);
      try {
        const minions = dirs.map((dir) => minion(dir, marks));
        const results = await Promise.all(minions.map((m) => m.result()));
        for (const result of results) {
          assertEquals(result.code, 0, result.output);
          assert(!/damaged|cut /.test(result.output), result.output);
        }
        const seen = await runs(marks);
        assertEquals(seen.size, 1500, "a param never ran");
        const twice = [...seen].filter(([, ids]) => ids.length > 1);
        assertEquals(twice, [], "params ran twice");
        for (const dir of dirs) {
          const status = await runCli(["sweep", "status", "--dir", dir]);
          assertEquals(status.code, 0, status.stderr);
          assertMatch(
            status.stdout,
            /1500 params: 0 todo, 0 in progress, 1500 done/,
          );
          await journalReads(dir);
        }
        const said = results.map((r) => r.output).join("\n");
        if (profile === "lock-local") {
          // Contention is certain here: the minions notice their flock did
          // not keep the other out, and say what to change.
          assertMatch(said, /did not keep out a minion of another host/);
          assertMatch(said, /nolock.*localflock.*BeeGFS/);
        }
        if (profile === "coherent") {
          assert(!/warning/.test(said), said);
        }
      } finally {
        await fs.stop();
        await Deno.remove(marks, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "execo engine on two clients (GlusterFS, caches off): a minute of kill -9 on both loses nothing and repeats only what was in flight",
  ignore: !sharedFsAvailable("coherent"),
  async fn() {
    const { fs, dirs, marks } = await job("coherent", 2000);
    const env = { MINION_LEASE: "3" };
    // Each run takes a little while, so that kills find params in flight.
    const task = ["sh", "-c", 'echo "$MINION_ID" >> "$0/$1"; sleep 0.2'];
    try {
      const { all, killed, running } = await chaos({
        start: (n) => {
          const m = spawnMinion(
            { EXECO_PERSISTENCE_DIR: dirs[n % 2]!, ...env },
            ["-j", "2", ...task, marks],
          );
          return { ...m, exited: m.result() };
        },
        minions: 4,
        pauseMs: [1500, 2500],
        killForMs: 60_000,
        deadlineMs: 240_000,
      });
      assertEquals(running, 0, "minions still running after 4 minutes");
      for (const m of all) {
        const result = await m.result();
        assert(!/damaged/.test(result.output), result.output);
        if (!killed.has(m.child.pid)) {
          assertEquals(result.code, 0, result.output);
        }
      }
      const seen = await runs(marks);
      assertEquals(seen.size, 2000, "a param never ran");
      let repeated = 0;
      for (const [param, ids] of seen) {
        if (ids.length === 1) continue;
        repeated++;
        // Every run but one came from a minion killed with it in flight.
        const bySurvivors = ids.filter((id) =>
          !killed.has(Number(id.split("-").at(-2)))
        ).length;
        assert(
          bySurvivors <= 1,
          `param ${param} ran ${ids.length} times, ${bySurvivors} by minions never killed`,
        );
      }
      for (const dir of dirs) {
        const status = await runCli(["sweep", "status", "--dir", dir]);
        assertEquals(status.code, 0, status.stderr);
        assertMatch(
          status.stdout,
          /2000 params: 0 todo, 0 in progress, 2000 done/,
        );
        await journalReads(dir);
      }
      // deno-lint-ignore no-console
      console.log(
        `chaos on two mounts: ${killed.size} minions killed, ${repeated} of 2000 params ran twice (each in flight in a killed minion)`,
      );
    } finally {
      await fs.stop();
      await Deno.remove(marks, { recursive: true });
    }
  },
});
