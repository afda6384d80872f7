/**
 * A sweep in Python execo's files, opened by minionize without Python
 * around: the files are written here as execo writes them.
 */

import { assertEquals } from "../../_assert.ts";
import { writePickle } from "../../../engines/execo/pickle_write.ts";
import { openSweep } from "../../../engines/execo/sweep.ts";
import { DONE, TODO } from "../../../engines/execo/param_state.ts";

Deno.test("a pickle that a crash tore at the end of execo's done is cut off, as execo does, even inside a string", async () => {
  const p1 = writePickle("p1");
  // Cut inside the string of each length, and inside the pickle's head.
  for (const cut of [1, 3, p1.length - 3, p1.length - 2]) {
    const dir = await Deno.makeTempDir({ prefix: "execo-store-" });
    const p0 = writePickle("p0");
    await Deno.writeFile(
      `${dir}/sweeps`,
      writePickle({ kind: "set", items: ["p0", "p1"] }),
    );
    await Deno.writeFile(
      `${dir}/done`,
      new Uint8Array([...p0, ...p1.subarray(0, cut)]),
    );
    await Deno.writeFile(`${dir}/inprogress`, new Uint8Array());
    const store = await openSweep(dir, { leaseMs: 60_000 });
    try {
      const { state } = store;
      assertEquals(
        [
          state.status[state.ids.get('"p0"')!],
          state.status[state.ids.get('"p1"')!],
        ],
        [DONE, TODO],
        `cut at byte ${cut}`,
      );
    } finally {
      store.close();
    }
    assertEquals((await Deno.stat(`${dir}/done`)).size, p0.length);
    await Deno.remove(dir, { recursive: true });
  }
});
