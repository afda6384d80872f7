/**
 * Python minionize 0.3.4 minions and ours on one Python execo sweep seen
 * through two GlusterFS clients with their caches off (the *coherent*
 * profile of `tests/services/shared_fs.ts`): one of each kind on each
 * mount. (Python execo itself runs params twice on the caching *default*
 * profile, so no mix can do better there.)
 */

import { assert, assertEquals } from "../_assert.ts";
import { sweepQueue } from "../../engines/execo/queue.ts";
import { openSweep } from "../../engines/execo/sweep.ts";
import { sharedFsAvailable, startSharedFs } from "../services/shared_fs.ts";
import {
  cli,
  hasPython,
  type Minion,
  py,
  runs,
  start,
  tally,
} from "./_execo_python.ts";

const PARAMS = 60;

Deno.test({
  name:
    "two Python minions and two of ours on two GlusterFS clients (caches off): each param runs once",
  ignore: !hasPython || !sharedFsAvailable("coherent"),
  async fn() {
    const fs = await startSharedFs("coherent", { mounts: 2 });
    const local = await Deno.makeTempDir({ prefix: "execo-py-shared-" });
    try {
      const name = `sweep-${crypto.randomUUID().slice(0, 8)}`;
      await py(
        fs.mounts[0]!,
        `from execo_engine.sweep import ParamSweeper; ParamSweeper('${name}', sweeps=[f'p{i}' for i in range(${PARAMS})], save_sweeps=True)`,
      );
      await Deno.writeTextFile(
        `${local}/task.sh`,
        '#!/bin/sh\nsleep "${TASK_SLEEP:-0.1}"\necho "$1 $2" >> "$RUNS"\n',
      );
      await Deno.chmod(`${local}/task.sh`, 0o755);
      const env = (mount: string) => ({
        EXECO_PERSISTENCE_DIR: `${mount}/${name}`,
        RUNS: `${local}/runs`,
      });
      const minions: Minion[] = [];
      for (const mount of fs.mounts) {
        minions.push(start(local, "py", `py ${mount}`, env(mount)));
        minions.push(start(local, "ours", `ours ${mount}`, env(mount)));
      }
      for (const minion of minions) {
        const output = await minion.output;
        assertEquals(
          output.code,
          0,
          `${minion.name}: ${
            new TextDecoder().decode(output.stderr).slice(-1500)
          }`,
        );
      }
      const { byParam, byFleet } = tally(await runs(local));
      assertEquals(byParam.size, PARAMS, "a param never ran");
      const twice = [...byParam].filter(([, n]) => n > 1);
      assertEquals(twice, [], "params ran twice");
      assert(byFleet.py! > 0 && byFleet.ours! > 0, "both fleets worked");
      // deno-lint-ignore no-console
      console.log(
        `coherent GlusterFS, two mounts: Python ran ${byFleet.py}, ours ran ${byFleet.ours}, each of ${PARAMS} once`,
      );
      for (const mount of fs.mounts) {
        const status = await cli(local, ["sweep", "status", "--json"], {
          EXECO_PERSISTENCE_DIR: `${mount}/${name}`,
        });
        assertEquals(JSON.parse(status.stdout).done, PARAMS);
      }
    } finally {
      await fs.stop();
      await Deno.remove(local, { recursive: true });
    }
  },
});

/** The params Python execo sees in progress in `dir` (one ParamSweeper, in `cwd`). */
async function pythonInProgress(cwd: string, name: string): Promise<string[]> {
  return JSON.parse(
    await py(
      cwd,
      `import json; from execo_engine.sweep import ParamSweeper; print(json.dumps(sorted(ParamSweeper('${name}').get_inprogress())))`,
    ),
  );
}

const ROUNDS = 5;

Deno.test({
  name:
    "on two GlusterFS clients (caches off), what one writes to execo's inprogress at the same size the other reads anew",
  ignore: !hasPython || !sharedFsAvailable("coherent"),
  async fn(t) {
    // A GlusterFS client keeps serving the old bytes of a file rewritten
    // in place at the same size, even to a process that opens it anew (9
    // reads in 10, measured), until it sees the size change. Params p0..p9
    // have names of one length, so a set of one keeps its size.
    const fs = await startSharedFs("coherent", { mounts: 2 });
    const [a, b] = fs.mounts as [string, string];
    const sweep = async () => {
      const name = `sweep-${crypto.randomUUID().slice(0, 8)}`;
      await py(
        a,
        `from execo_engine.sweep import ParamSweeper; ParamSweeper('${name}', sweeps=[f'p{i}' for i in range(10)], save_sweeps=True)`,
      );
      return name;
    };
    try {
      await t.step("Python sees each claim of ours", async () => {
        const name = await sweep();
        const leaseMs = 60_000;
        const queue = sweepQueue(await openSweep(`${b}/${name}`, { leaseMs }), {
          leaseMs,
          warn: () => {},
        });
        const never = new AbortController().signal;
        try {
          let delivery = (await queue.next(never))!;
          for (let round = 0; round < ROUNDS; round++) {
            assertEquals(await pythonInProgress(a, name), [delivery.param]);
            // The ack and the next claim: one param out, one in.
            await delivery.ack();
            delivery = (await queue.next(never))!;
          }
          await delivery.ack();
        } finally {
          await queue.close();
        }
      });
      await t.step("we see each param Python takes", async () => {
        const name = await sweep();
        let taken = (await py(
          a,
          `from execo_engine.sweep import ParamSweeper; print(ParamSweeper('${name}').get_next())`,
        )).trim();
        const store = await openSweep(`${b}/${name}`, { leaseMs: 60_000 });
        try {
          for (let round = 0; round < ROUNDS; round++) {
            await store.transact(() => {});
            const held = [...store.state.claims].map(([id, claim]) =>
              `${store.state.texts[id]} ${claim.external ? "python" : "ours"}`
            );
            assertEquals(held, [`"${taken}" python`], `round ${round}`);
            taken = (await py(
              a,
              `from execo_engine.sweep import ParamSweeper; s = ParamSweeper('${name}'); s.done('${taken}'); print(s.get_next())`,
            )).trim();
          }
        } finally {
          store.close();
        }
      });
    } finally {
      await fs.stop();
    }
  },
});
