/**
 * POSIX record locks shared with Python's `fcntl.lockf`: each keeps the
 * other out, lockers of one process take turns, and reading a locked file
 * elsewhere in the process does not let go of its lock.
 */

import { assert, assertEquals } from "../../_assert.ts";
import {
  lockShared,
  openShared,
  readShared,
  releaseShared,
} from "../../../engines/execo/posix_lock.ts";
import { viewExeco } from "../../../engines/execo/execo_view.ts";
import { hasPython, py, PYTHON, text } from "../_execo_python.ts";

/** Whether Python can take `lockf` on `file` right now (without waiting). */
async function pythonCanLock(file: string): Promise<boolean> {
  const out = await new Deno.Command(PYTHON, {
    args: [
      "-c",
      `import fcntl
f = open('${file}', 'ab+')
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print("free")
except OSError: print("held")`,
    ],
  }).output();
  return text(out.stdout).trim() === "free";
}

Deno.test({
  name:
    "a lock of ours keeps Python's lockf out, and Python's keeps ours waiting",
  ignore: !hasPython,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/done`;
    await Deno.writeFile(path, new Uint8Array());
    const file = openShared(path, { write: true });
    try {
      const unlock = await lockShared([file], dir);
      assert(!(await pythonCanLock(path)), "Python took a lock we hold");
      unlock!();
      assert(await pythonCanLock(path), "our lock was not let go");
      const holder = new Deno.Command(PYTHON, {
        args: [
          "-c",
          `import fcntl, time
f = open('${path}', 'ab+'); fcntl.lockf(f, fcntl.LOCK_EX)
print("held", flush=True); time.sleep(0.8)`,
        ],
        stdout: "piped",
      }).spawn();
      const reader = holder.stdout.getReader();
      await reader.read(); // "held"
      const started = performance.now();
      const again = await lockShared([file], dir);
      const waited = performance.now() - started;
      again!();
      reader.releaseLock();
      await holder.output();
      assert(waited > 300, `took the lock Python held after ${waited} ms`);
    } finally {
      releaseShared(file);
    }
  },
});

Deno.test({
  name:
    "reading a locked execo file elsewhere in the process keeps its lock (one descriptor per file)",
  ignore: !hasPython,
  async fn() {
    const dir = await Deno.makeTempDir();
    await py(
      dir,
      "from execo_engine.sweep import ParamSweeper; s = ParamSweeper('sweeps', sweeps=range(3), save_sweeps=True); s.done(s.get_next())",
    );
    const done = openShared(`${dir}/sweeps/done`, { write: true });
    try {
      const unlock = await lockShared([done], dir);
      // A view opens, reads and lets go of done: a close of any descriptor
      // of it would drop the process's lock.
      assertEquals(viewExeco(`${dir}/sweeps`).counts.done, 1);
      assert(readShared(done).length > 0);
      assert(!(await pythonCanLock(`${dir}/sweeps/done`)), "the lock dropped");
      unlock!();
    } finally {
      releaseShared(done);
    }
  },
});

Deno.test("lockers of one process take their turns on one file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/done`;
  await Deno.writeFile(path, new Uint8Array());
  const a = openShared(path, { write: true });
  const b = openShared(path, { write: true });
  try {
    const order: string[] = [];
    const first = await lockShared([a], dir);
    const second = lockShared([b], dir).then((unlock) => {
      order.push("second");
      unlock!();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push("first done");
    first!();
    await second;
    assertEquals(order, ["first done", "second"]);
  } finally {
    releaseShared(a);
    releaseShared(b);
  }
});
