/**
 * The hand-over from Python minionize to ours: reading a Python sweep
 * changes nothing, `sweep convert` moves it and stops Python minions with a
 * message, a sweep of ours stops Python minions too, and failures and
 * `HashableDict` params cross over.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import {
  cli,
  filesOf,
  hasPython,
  py,
  pythonSweep,
  pythonView,
  runs,
  start,
  tally,
  text,
  VENV,
} from "./_execo_python.ts";
import { waitUntil } from "../services/harness.ts";

Deno.test({
  name:
    "sweep status, list, a dry run, top and status leave a Python sweep byte for byte unchanged",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(10);
    await py(
      cwd,
      "from execo_engine.sweep import ParamSweeper\n" +
        "s = ParamSweeper('sweeps')\n" +
        "for _ in range(3): s.done(s.get_next())\n" +
        "s.get_next()\n",
    );
    await Deno.mkdir(`${cwd}/reports`);
    const before = await filesOf(`${cwd}/sweeps`);
    const status = await cli(cwd, ["sweep", "status"]);
    assertEquals(status.code, 0, status.stderr);
    assertMatch(
      status.stdout,
      /10 params: 6 todo, 1 in progress, 3 done, 0 failed\n {2}p\d+ {2}held by a Python minion/,
    );
    for (
      const args of [
        ["sweep", "status", "--json"],
        ["sweep", "list"],
        ["sweep", "list", "--in-progress"],
        ["--dry-run", "echo"],
        ["top", "--once", "reports"],
        ["status", "--no-pictures", "reports"],
      ]
    ) {
      const result = await cli(cwd, args, { MINION_ENGINE: "execo" });
      assertEquals(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
    }
    assertEquals(await filesOf(`${cwd}/sweeps`), before);
  },
});

Deno.test({
  name:
    "a Python minion on a sweep made by 'sweep create' stops with a message and changes nothing",
  ignore: !hasPython,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "execo-created-" });
    const created = await cli(cwd, ["sweep", "create", "--param", "n=1,2,3"]);
    assertEquals(created.code, 0, created.stderr);
    const before = await filesOf(`${cwd}/sweeps`);
    const result = await new Deno.Command(`${VENV}/minionize`, {
      args: ["echo"],
      cwd,
      env: { MINION_ENGINE: "execo" },
    }).output();
    assertEquals(result.code, 1);
    assertMatch(
      text(result.stderr),
      /^minionize: error: 'sweeps' holds a sweep of the new minionize .* run the new minionize on it/m,
    );
    assert(!text(result.stderr).includes("EOFError"));
    assertEquals(await filesOf(`${cwd}/sweeps`), before);
    const ours = await cli(cwd, ["echo"], { MINION_ENGINE: "execo" });
    assertEquals(ours.stdout.split("\n").filter(Boolean).length, 3);
  },
});

Deno.test({
  name:
    "sweep convert --force while both fleets run: Python stops at its next step with a message, ours goes on in our format",
  ignore: !hasPython,
  async fn() {
    const params = 40;
    const cwd = await pythonSweep(params);
    const python = start(cwd, "py", "py1", { TASK_SLEEP: "0.3" });
    const ours = start(cwd, "ours", "ours1", { TASK_SLEEP: "0.3" });
    await waitUntil("both fleets to run params", async () => {
      const { byFleet } = tally(await runs(cwd));
      return (byFleet.py ?? 0) >= 2 && (byFleet.ours ?? 0) >= 2;
    });
    const converted = await cli(cwd, ["sweep", "convert", "--force"]);
    assertEquals(converted.code, 0, converted.stderr);
    assertMatch(
      converted.stdout,
      /moved the sweep in sweeps to minionize's format/,
    );
    const stopped = await python.output;
    assertEquals(stopped.code, 1);
    assertMatch(
      text(stopped.stderr),
      /minionize: error: the sweep in 'sweeps' was moved to the format of the new minionize .*this Python minion stops/,
    );
    assertEquals((await ours.output).code, 0);
    const { byParam } = tally(await runs(cwd));
    assertEquals(byParam.size, params);
    // Only the param the Python minion was running may run again.
    assert([...byParam.values()].filter((n) => n > 1).length <= 1);
    const status = JSON.parse(
      (await cli(cwd, ["sweep", "status", "--json"])).stdout,
    );
    assertEquals(status.done, params);
    // A Python minion that starts now stops at once and writes nothing.
    const files = await filesOf(`${cwd}/sweeps`);
    const late = await new Deno.Command(`${VENV}/minionize`, {
      args: ["echo"],
      cwd,
      env: { MINION_ENGINE: "execo" },
    }).output();
    assertEquals(late.code, 1);
    assertMatch(
      text(late.stderr),
      /was moved to the format of the new minionize/,
    );
    assertEquals(await filesOf(`${cwd}/sweeps`), files);
  },
});

Deno.test({
  name: "a conversion cut short by a crash is finished by the next minion",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(6);
    await py(
      cwd,
      "from execo_engine.sweep import ParamSweeper\ns = ParamSweeper('sweeps')\ns.done(s.get_next())",
    );
    assertEquals((await cli(cwd, ["sweep", "convert"])).code, 0);
    // As if the converter died after marking execo's files.
    for (const entry of Deno.readDirSync(`${cwd}/sweeps`)) {
      if (/^minionize\.(log|index|shard)/.test(entry.name)) {
        await Deno.remove(`${cwd}/sweeps/${entry.name}`);
      }
    }
    const result = await cli(cwd, [`${cwd}/task.sh`, "ours"], {
      MINION_ENGINE: "execo",
      RUNS: `${cwd}/runs`,
      TASK_SLEEP: "0",
    });
    assertEquals(result.code, 0, result.stderr);
    assertEquals((await runs(cwd)).length, 5);
    assert(Deno.statSync(`${cwd}/sweeps/minionize.log`).isFile);
  },
});

Deno.test({
  name:
    "a param our minion failed is not run by Python, and stays failed after convert",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(4);
    const failing = await cli(cwd, ["sh", "-c", 'test "$0" != p2'], {
      MINION_ENGINE: "execo",
      MINION_QUIET: "1",
    });
    assertEquals(failing.code, 1);
    assertEquals(await pythonView(cwd), {
      done: 4,
      inProgress: 0,
      remaining: 0,
    });
    const status = JSON.parse(
      (await cli(cwd, ["sweep", "status", "--json"])).stdout,
    );
    assertEquals([status.done, status.failed], [3, 1]);
    const reset = await cli(cwd, ["sweep", "reset", "--failed"]);
    assertEquals(reset.code, 2);
    assertMatch(reset.stderr, /minionize sweep convert/);
    assertEquals((await cli(cwd, ["sweep", "convert"])).code, 0);
    const failed = await cli(cwd, ["sweep", "list", "--failed"]);
    assertEquals(failed.stdout, '"p2"\n');
  },
});

Deno.test({
  name:
    "HashableDict params: what Python did stays done, what a Python minion holds is left to it",
  ignore: !hasPython,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "execo-hashable-" });
    const picked = JSON.parse(
      await py(
        cwd,
        `import json
from execo_engine.sweep import ParamSweeper, sweep
s = ParamSweeper('sweeps', sweeps=sweep({'n': [1, 2, 3], 'name': ['a', 'b c'], 'x': [0.5]}), save_sweeps=True)
done = s.get_next(); s.done(done)
running = s.get_next()
print(json.dumps([done, running]))`,
      ),
    ) as Record<string, unknown>[];
    const canonical = (value: Record<string, unknown>) =>
      JSON.stringify(Object.fromEntries(Object.entries(value).sort()));
    const result = await cli(
      cwd,
      ["sh", "-c", 'echo "$MINION_PARAM" >> runs'],
      {
        MINION_ENGINE: "execo",
      },
    );
    assertEquals(result.code, 0, result.stderr);
    const ran = (await Deno.readTextFile(`${cwd}/runs`)).trim().split("\n")
      .map((line) => canonical(JSON.parse(line)));
    assertEquals(new Set(ran).size, 4);
    assert(
      !ran.includes(canonical(picked[0]!)),
      "the param execo had done ran",
    );
    assert(!ran.includes(canonical(picked[1]!)), "a Python minion's param ran");
    // Python reads what ours wrote as its own HashableDicts.
    assertEquals(await pythonView(cwd), {
      done: 5,
      inProgress: 1,
      remaining: 0,
    });
  },
});

Deno.test({
  name:
    "a minion that ran many params in execo's files offers the conversion in one line; the quickstart stays quiet",
  ignore: !hasPython,
  async fn() {
    const big = await pythonSweep(120);
    const many = await cli(big, ["true"], { MINION_ENGINE: "execo" });
    assertEquals(many.code, 0, many.stderr);
    assertEquals(many.stderr.trim().split("\n").length, 1);
    assertMatch(
      many.stderr,
      /^minionize: warning: sweeps is kept in Python execo's files.*'minionize sweep convert sweeps' moves it\n$/,
    );
    const small = await pythonSweep(10);
    const few = await cli(small, ["true"], { MINION_ENGINE: "execo" });
    assertEquals([few.code, few.stderr], [0, ""]);
  },
});
