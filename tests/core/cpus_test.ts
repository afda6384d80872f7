import { assertEquals, assertRejects, assertThrows } from "../_assert.ts";
import { allowedCpus, formatCpuList, parseCpuList } from "../../core/cpus.ts";
import { ConfigError } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";

Deno.test("CPU lists are read and written in the kernel's syntax", () => {
  assertEquals(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
  assertEquals(parseCpuList("5,1-2,2"), [1, 2, 5]);
  assertEquals(formatCpuList([0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
  assertEquals(formatCpuList([4]), "4");
  assertThrows(() => parseCpuList("3-1"), RangeError, "'3-1' is not N or N-M");
  assertThrows(() => parseCpuList("a"), RangeError);
});

Deno.test("this minion's CPUs come from Cpus_allowed_list", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/status`,
    "Name:\tdeno\nCpus_allowed:\tff\nCpus_allowed_list:\t2-5\nMems_allowed_list:\t0\n",
  );
  assertEquals(await allowedCpus(`${dir}/status`), [2, 3, 4, 5]);
  // On this machine, the real file agrees with what taskset says.
  const mine = await allowedCpus();
  const out = await new Deno.Command("taskset", {
    args: ["-cp", String(Deno.pid)],
  }).output();
  const list = new TextDecoder().decode(out.stdout).split(": ")[1]!;
  assertEquals(mine, parseCpuList(list));
  await Deno.writeTextFile(`${dir}/bare`, "Name:\tdeno\n");
  await assertRejects(
    () => allowedCpus(`${dir}/bare`),
    ConfigError,
    "has no Cpus_allowed_list line",
  );
  await assertRejects(
    () => allowedCpus(`${dir}/missing`),
    ConfigError,
    "works on Linux only",
  );
});
