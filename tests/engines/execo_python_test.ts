/**
 * Python minionize 0.3.4 minions and ours on one sweep written by Python
 * execo: in every order each param runs once, and a minion of either kind
 * killed with -9 loses at most the param it had in flight.
 */

import { assert, assertEquals, assertMatch } from "../_assert.ts";
import {
  cli,
  hasPython,
  killGroup,
  type Minion,
  pythonSweep,
  pythonView,
  runs,
  start,
  tally,
} from "./_execo_python.ts";
import { waitUntil } from "../services/harness.ts";

const PARAMS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function finish(minions: Minion[]): Promise<void> {
  for (const minion of minions) {
    const output = await minion.output;
    assertEquals(
      output.code,
      0,
      `${minion.name}: ${new TextDecoder().decode(output.stderr).slice(-2000)}`,
    );
  }
}

/** Checks that each of the sweep's params ran once, and says who ran what. */
async function onceEach(
  cwd: string,
  mix: string,
): Promise<Record<string, number>> {
  const { byParam, byFleet } = tally(await runs(cwd));
  const twice = [...byParam].filter(([, n]) => n > 1).map(([p]) => p);
  assertEquals(twice, [], `${mix}: params run more than once`);
  assertEquals(byParam.size, PARAMS, `${mix}: params never run`);
  const status = await cli(cwd, ["sweep", "status", "--json"]);
  assertEquals(status.code, 0, status.stderr);
  assertEquals(JSON.parse(status.stdout).done, PARAMS);
  assertEquals(await pythonView(cwd), {
    done: PARAMS,
    inProgress: 0,
    remaining: 0,
  });
  // deno-lint-ignore no-console
  console.log(
    `mix ${mix}: ${PARAMS} params, each run once: Python ran ${
      byFleet.py ?? 0
    }, ours ran ${byFleet.ours ?? 0}; sweep status: ${PARAMS} done`,
  );
  return byFleet;
}

Deno.test({
  name: "a Python minion first, ours 2 s later: each param runs once",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    const python = start(cwd, "py", "py1");
    await sleep(2000);
    const ours = start(cwd, "ours", "ours1");
    await finish([python, ours]);
    const fleets = await onceEach(cwd, "Python first");
    assert(fleets.py! > 0 && fleets.ours! > 0, "both fleets worked");
  },
});

Deno.test({
  name: "our minion first, a Python minion 2 s later: each param runs once",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    const ours = start(cwd, "ours", "ours1");
    await sleep(2000);
    const python = start(cwd, "py", "py1");
    await finish([ours, python]);
    const fleets = await onceEach(cwd, "ours first");
    assert(fleets.py! > 0 && fleets.ours! > 0, "both fleets worked");
  },
});

Deno.test({
  name:
    "two Python minions and two of ours started together: each param runs once",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    const minions = [
      start(cwd, "py", "py1"),
      start(cwd, "ours", "ours1"),
      start(cwd, "py", "py2"),
      start(cwd, "ours", "ours2"),
    ];
    await finish(minions);
    const fleets = await onceEach(cwd, "two of each together");
    assert(fleets.py! > 0 && fleets.ours! > 0, "both fleets worked");
  },
});

Deno.test({
  name: "a Python minion after ours has run the sweep runs nothing again",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    await finish([start(cwd, "ours", "ours1", { TASK_SLEEP: "0" })]);
    const python = start(cwd, "py", "py1");
    await finish([python]);
    const fleets = await onceEach(cwd, "Python after ours");
    assertEquals(fleets.py, undefined);
  },
});

Deno.test({
  name:
    "a Python minion killed -9 keeps its param: ours leave it alone, and convert --force gives it back",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    const python = start(cwd, "py", "py1", { TASK_SLEEP: "0.5" });
    const ours = start(cwd, "ours", "ours1", { TASK_SLEEP: "0.3" });
    await waitUntil(
      "the Python minion to finish a param",
      async () => (await runs(cwd)).some((line) => line.startsWith("py ")),
    );
    await sleep(100); // it has taken its next param by now
    killGroup(python);
    await python.output;
    await finish([ours]); // ours does not wait for a Python minion's param
    const held = JSON.parse(
      (await cli(cwd, ["sweep", "status", "--json"])).stdout,
    );
    assertEquals(held.inProgress, 1);
    assertEquals(held.held[0].python, true);
    assertEquals(held.done, PARAMS - 1);
    const { byParam } = tally(await runs(cwd));
    assert(byParam.size >= PARAMS - 1);
    assert([...byParam.values()].every((n) => n === 1));
    // No Python minion is left, but execo cannot tell: convert asks.
    const refused = await cli(cwd, ["sweep", "convert"]);
    assertEquals(refused.code, 2);
    assertMatch(
      refused.stderr,
      /1 params? of sweeps .*held by Python minions.*--force/,
    );
    const forced = await cli(cwd, ["sweep", "convert", "--force"]);
    assertEquals(forced.code, 0, forced.stderr);
    assertMatch(
      forced.stdout,
      /1 held by Python minions went back to the queue/,
    );
    await finish([start(cwd, "ours", "ours2", { TASK_SLEEP: "0" })]);
    // The killed minion's task may have ended just before the kill.
    const after = tally(await runs(cwd));
    assertEquals(after.byParam.size, PARAMS);
    assert([...after.byParam.values()].filter((n) => n > 1).length <= 1);
  },
});

Deno.test({
  name:
    "our minion killed -9: another of ours runs its param after the lease, and Python never takes it",
  ignore: !hasPython,
  async fn() {
    const cwd = await pythonSweep(PARAMS);
    const lease = { MINION_LEASE: "2", TASK_SLEEP: "0.3" };
    const victim = start(cwd, "ours", "ours1", lease);
    const python = start(cwd, "py", "py1", { TASK_SLEEP: "0.3" });
    const other = start(cwd, "ours", "ours2", lease);
    await waitUntil(
      "our minions to finish a param",
      async () =>
        (await runs(cwd)).filter((line) => line.startsWith("ours ")).length >=
          2,
    );
    killGroup(victim);
    await victim.output;
    await finish([python, other]);
    const { byParam, byFleet } = tally(await runs(cwd));
    assertEquals(byParam.size, PARAMS, "every param ran");
    // Only the param in flight in the killed minion may run twice.
    assert(
      [...byParam.values()].filter((n) => n > 1).length <= 1,
      "each once, but the killed minion's",
    );
    assert(byFleet.py! > 0);
    const status = JSON.parse(
      (await cli(cwd, ["sweep", "status", "--json"])).stdout,
    );
    assertEquals([status.done, status.inProgress], [PARAMS, 0]);
  },
});
