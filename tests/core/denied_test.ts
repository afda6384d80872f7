import { assertEquals, assertMatch } from "../_assert.ts";
import { denial, explain, flagFor } from "../../core/denied.ts";

function refused(message: string): Error {
  return new Deno.errors.NotCapable(message);
}

Deno.test("denial reads what Deno refused and the flag that grants it", () => {
  const cwd = Deno.cwd();
  assertEquals(
    denial(
      refused(
        'Requires write access to "out/x", run again with the --allow-write flag',
      ),
    ),
    { kind: "write", target: "out/x", flag: `--allow-write=${cwd}/out/x` },
  );
  assertEquals(
    denial(
      refused(
        'Requires net access to "127.0.0.1:6379", run again with the --allow-net flag',
      ),
    ),
    {
      kind: "net",
      target: "127.0.0.1:6379",
      flag: "--allow-net=127.0.0.1:6379",
    },
  );
  assertEquals(
    denial(refused("Requires env access, run again with the --allow-env flag")),
    { kind: "env", target: undefined, flag: "--allow-env" },
  );
});

Deno.test("denial finds a refusal among the causes, and nothing in other errors", () => {
  const wrapped = new Error("cannot open", {
    cause: new Error("io", {
      cause: refused('Requires sys access to "hostname"'),
    }),
  });
  assertEquals(denial(wrapped)?.flag, "--allow-sys=hostname");
  assertEquals(denial(new Deno.errors.PermissionDenied("EACCES")), undefined);
  assertEquals(denial("text"), undefined);
});

Deno.test("explain names the flag for a refusal, else gives the message and the fix", () => {
  assertMatch(
    explain(refused('Requires run access to "squeue"'), "unused"),
    /^Deno denied run access to 'squeue': run with --allow-run=squeue \(`minionize permissions`/,
  );
  assertEquals(
    explain(
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      "make it writable",
    ),
    "Permission denied (os error 13); make it writable",
  );
});

Deno.test("flagFor makes paths absolute and keeps other targets", () => {
  assertEquals(flagFor("read", "/a/b"), "--allow-read=/a/b");
  assertEquals(flagFor("run", "echo"), "--allow-run=echo");
  assertEquals(flagFor("env", "HOME"), "--allow-env");
  assertEquals(flagFor("sys"), "--allow-sys");
});
