/**
 * How `--shell` puts values into an `sh -c` script without the shell ever
 * parsing them: each placeholder becomes a reference to a positional
 * parameter (`"${1}"`, `"${2}"`, ...) and the values follow the script as
 * arguments (`sh -c SCRIPT sh VALUE1 VALUE2`). Quoting a value into the
 * script text instead would depend on where the placeholder sits: inside
 * the user's own quotes (`'{}'`, `"{}"`) or a command substitution, a
 * quoted value closes the user's quote and the rest of the value runs.
 *
 * The reference is written to suit the quotes around the placeholder
 * (`'{}'` becomes `'"${1}"'`), read by a small scanner of sh's quoting. A
 * context it misreads (a here-document, say) can only make the reference
 * show up as text: the value itself is never part of the script.
 *
 * @module
 */

/** Where in a script a placeholder sits, as far as quoting goes. */
type _Context =
  | "plain"
  | "single"
  | "double"
  | "paren"
  | "brace"
  | "backtick"
  | "arith";

/**
 * The script for `template`, with each match of `placeholder` replaced by a
 * positional parameter whose value `resolve` gives. Returns the script and
 * the values, in order, to pass after it.
 *
 * @param script the user's command, its words joined by spaces
 * @param placeholder the placeholders to replace (a global regex)
 * @param resolve the value of one placeholder match
 */
export function shellScript(
  script: string,
  placeholder: RegExp,
  resolve: (match: RegExpExecArray) => string,
): { script: string; values: string[] } {
  const values: string[] = [];
  const stack: _Context[] = ["plain"];
  const sticky = new RegExp(placeholder.source, "y");
  let out = "";
  let i = 0;
  const top = () => stack[stack.length - 1]!;
  while (i < script.length) {
    sticky.lastIndex = i;
    const match = sticky.exec(script);
    if (match) {
      values.push(resolve(match));
      const ref = `\${${values.length}}`;
      const context = top();
      out += context === "single"
        ? `'"${ref}"'`
        : context === "double" || context === "arith"
        ? ref
        : `"${ref}"`;
      i += match[0].length;
      continue;
    }
    const c = script[i]!;
    const two = script.slice(i, i + 2);
    const context = top();
    let step = 1;
    if (context === "single") {
      if (c === "'") stack.pop();
    } else if (c === "\\") {
      step = 2; // an escaped character is never a quote
    } else if (script.startsWith("$((", i)) {
      stack.push("arith");
      step = 3;
    } else if (two === "$(") {
      stack.push("paren");
      step = 2;
    } else if (two === "${") {
      stack.push("brace");
      step = 2;
    } else if (c === "`") {
      if (context === "backtick") stack.pop();
      else stack.push("backtick");
    } else if (context === "double") {
      if (c === '"') stack.pop();
    } else if (context === "arith") {
      if (two === "))") {
        stack.pop();
        step = 2;
      } else if (c === "(") stack.push("arith");
      else if (c === ")") stack.pop();
    } else if (c === "#" && /^$|[\s;&|()]/.test(script[i - 1] ?? "")) {
      // A comment runs to the end of the line: its quotes quote nothing.
      const end = script.indexOf("\n", i);
      step = (end < 0 ? script.length : end) - i;
    } else if (c === "'") {
      stack.push("single");
    } else if (c === '"') {
      stack.push("double");
    } else if (c === "(") {
      stack.push("paren");
    } else if (c === ")" && context === "paren") {
      stack.pop();
    } else if (c === "}" && context === "brace") {
      stack.pop();
    }
    // An unbalanced closer must not empty the stack.
    if (stack.length === 0) stack.push("plain");
    out += script.slice(i, i + step);
    i += step;
  }
  return { script: out, values };
}
