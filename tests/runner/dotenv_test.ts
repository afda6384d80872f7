import { assertEquals, assertRejects } from "../_assert.ts";
import { loadEnv, readDotEnv } from "../../runner/dotenv.ts";
import { ConfigError } from "../../core/errors.ts";
import { tempDir } from "../_cli.ts";

Deno.test(".env values, comments, quotes and export lines are read", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/.env`,
    "# engine\nMINION_ENGINE=file\nexport A='x y'\nB=\"multi\nline\"\n\nC=1 # trailing\n",
  );
  assertEquals(await readDotEnv(`${dir}/.env`), {
    MINION_ENGINE: "file",
    A: "x y",
    B: "multi\nline",
    C: "1",
  });
});

Deno.test("a missing .env is no error", async () => {
  assertEquals(await readDotEnv("/nonexistent/.env"), {});
});

Deno.test("a malformed .env line is a ConfigError naming the line", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/.env`, "A=1\nMINION_ENGINE file\n");
  await assertRejects(
    () => readDotEnv(`${dir}/.env`),
    ConfigError,
    /line 2 "MINION_ENGINE file" is not NAME=value/,
  );
  await Deno.writeTextFile(`${dir}/.env`, 'A="never closed\n');
  await assertRejects(
    () => readDotEnv(`${dir}/.env`),
    ConfigError,
    /never closed/,
  );
});

Deno.test("the environment wins over .env", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(
    `${dir}/.env`,
    "MINIONIZE_TEST_VAR=from-file\nMINIONIZE_TEST_OTHER=file\n",
  );
  Deno.env.set("MINIONIZE_TEST_VAR", "from-env");
  try {
    const env = await loadEnv(`${dir}/.env`);
    assertEquals([env.MINIONIZE_TEST_VAR, env.MINIONIZE_TEST_OTHER], [
      "from-env",
      "file",
    ]);
  } finally {
    Deno.env.delete("MINIONIZE_TEST_VAR");
  }
});
