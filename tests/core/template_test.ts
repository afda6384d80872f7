import { assertEquals, assertThrows } from "../_assert.ts";
import { buildArgv, formatArgv, paramWords } from "../../core/template.ts";

Deno.test("a number param is appended as its text, like the original", () => {
  assertEquals(buildArgv(["echo", "hello"], 0), ["echo", "hello", "0"]);
});

Deno.test("a string param is split into words by shell quoting rules", () => {
  assertEquals(buildArgv(["a.out"], `--alpha 1 --beta "x y"`), [
    "a.out",
    "--alpha",
    "1",
    "--beta",
    "x y",
  ]);
});

Deno.test("shell syntax in a param stays plain text", () => {
  const param = "$(touch pwned); `id` *.ts > out | cat && rm -rf ~";
  assertEquals(paramWords(param), [
    "$(touch",
    "pwned);",
    "`id`",
    "*.ts",
    ">",
    "out",
    "|",
    "cat",
    "&&",
    "rm",
    "-rf",
    "~",
  ]);
});

Deno.test("a list param gives one argument per item", () => {
  assertEquals(buildArgv(["run"], ["a b", 2, { k: 1 }]), [
    "run",
    "a b",
    "2",
    '{"k":1}',
  ]);
});

Deno.test("an object param is appended as its JSON text", () => {
  assertEquals(buildArgv(["run"], { a: 1 }), ["run", '{"a":1}']);
});

Deno.test("{} puts the whole param in one argument and appends nothing", () => {
  assertEquals(buildArgv(["run", "--in={}", "x"], "a b"), [
    "run",
    "--in=a b",
    "x",
  ]);
});

Deno.test("{name} and {0} pick a field or an item", () => {
  assertEquals(buildArgv(["run", "{arg1}", "--n={n}"], { arg1: "x y", n: 3 }), [
    "run",
    "x y",
    "--n=3",
  ]);
  assertEquals(buildArgv(["run", "{1}", "{0}"], ["a", "b"]), ["run", "b", "a"]);
});

Deno.test("a placeholder naming a missing field is a TypeError saying which", () => {
  assertThrows(
    () => buildArgv(["run", "{nope}"], { a: 1 }),
    TypeError,
    /no field 'nope'/,
  );
  assertThrows(() => buildArgv(["run", "{3}"], ["a"]), TypeError, /item 3/);
});

Deno.test("braces that are not placeholders pass through", () => {
  assertEquals(buildArgv(["echo", "{a,b}", '{"k": 1}'], "p"), [
    "echo",
    "{a,b}",
    '{"k": 1}',
    "p",
  ]);
});

Deno.test("an unclosed quote in a string param is a clear TypeError", () => {
  assertThrows(() => paramWords(`--x "open`), TypeError, /close the quote/);
});

Deno.test("--shell passes values to sh as positional parameters, never in the script", () => {
  assertEquals(
    buildArgv(["echo", "{}", "|", "wc", "-c"], "$(touch pwned)", true),
    ["sh", "-c", 'echo "${1}" | wc -c', "sh", "$(touch pwned)"],
  );
  assertEquals(
    buildArgv(["echo"], "a 'b c'", true),
    ["sh", "-c", 'echo "$@"', "sh", "a", "b c"],
  );
});

Deno.test("--shell writes each reference to suit the quotes around its placeholder", () => {
  const script = (template: string) =>
    buildArgv([template], { a: "x", b: "y" }, true)[2];
  assertEquals(script("echo '{a}' \"{b}\""), `echo ''"\${1}"'' "\${2}"`);
  assertEquals(script('echo "$(echo {a})"'), 'echo "$(echo "${1}")"');
  assertEquals(script("echo `echo {a}`"), 'echo `echo "${1}"`');
  assertEquals(script("echo $(( {a} + 1 ))"), "echo $(( ${1} + 1 ))");
  assertEquals(script("echo ${X:-{a}}"), 'echo ${X:-"${1}"}');
  assertEquals(script("echo \\'{a}"), `echo \\'"\${1}"`);
  assertEquals(
    script("echo {a} # it's\necho {b}"),
    'echo "${1}" # it\'s\necho "${2}"',
  );
});

Deno.test("formatArgv quotes only what needs it", () => {
  assertEquals(
    formatArgv(["echo", "hello", "x y", "$HOME"]),
    "echo hello 'x y' '$HOME'",
  );
});

Deno.test("{%} is the slot, and like GNU parallel's it stops the param being appended", () => {
  assertEquals(buildArgv(["run", "--gpu={%}"], "x y", false, 3), [
    "run",
    "--gpu=3",
  ]);
  assertEquals(buildArgv(["run", "{%}", "{}"], "x y", false, 2), [
    "run",
    "2",
    "x y",
  ]);
  assertEquals(buildArgv(["echo {%} {}"], "a b", true, 4), [
    "sh",
    "-c",
    'echo "${1}" "${2}"',
    "sh",
    "4",
    "a b",
  ]);
  assertEquals(buildArgv(["log-{%}.txt"], 0), ["log-1.txt"]);
});
