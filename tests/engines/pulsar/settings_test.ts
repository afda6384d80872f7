import { assertEquals, assertThrows } from "../../_assert.ts";
import { readPulsarSettings } from "../../../engines/pulsar/mod.ts";
import { ConfigError } from "../../../core/errors.ts";

Deno.test("pulsar settings default like the original and name the dead-letter topic as Java does", () => {
  const settings = readPulsarSettings({ PULSAR_TOPIC: "jobs" });
  assertEquals(settings.serviceUrl, "pulsar://localhost:6650");
  assertEquals(settings.topic, "persistent://public/default/jobs");
  assertEquals(settings.subscription, "minionize");
  assertEquals(settings.decoder, "identity");
  assertEquals(settings.nackDelayMs, 1000);
  assertEquals(settings.batchIndexAck, false);
  assertEquals(settings.prefetch, undefined);
  assertEquals(
    settings.deadLetterTopic,
    "persistent://public/default/jobs-minionize-DLQ",
  );
});

Deno.test("bad pulsar settings are config errors naming the variable", () => {
  const cases: [Record<string, string>, string][] = [
    [{}, "PULSAR_TOPIC"],
    [{ PULSAR_TOPIC: "a/b" }, "PULSAR_TOPIC"],
    [{ PULSAR_TOPIC: "t", PULSAR_CONNECTION: "http://h" }, "PULSAR_CONNECTION"],
    [{ PULSAR_TOPIC: "t", PULSAR_DECODER: "yaml" }, "PULSAR_DECODER"],
    [{ PULSAR_TOPIC: "t", PULSAR_NACK_DELAY: "soon" }, "PULSAR_NACK_DELAY"],
    [
      { PULSAR_TOPIC: "t", PULSAR_DEAD_LETTER_TOPIC: "x/y" },
      "PULSAR_DEAD_LETTER_TOPIC",
    ],
    [
      { PULSAR_TOPIC: "t", PULSAR_TLS_TRUST_CERTS: "/no/such.pem" },
      "PULSAR_TLS_TRUST_CERTS",
    ],
    [{ PULSAR_TOPIC: "t", PULSAR_PREFETCH: "0" }, "PULSAR_PREFETCH"],
    [{ PULSAR_TOPIC: "t", PULSAR_PREFETCH: "many" }, "PULSAR_PREFETCH"],
    [{ PULSAR_TOPIC: "t", PULSAR_PREFETCH: "100001" }, "PULSAR_PREFETCH"],
  ];
  for (const [env, variable] of cases) {
    const error = assertThrows(() => readPulsarSettings(env), ConfigError);
    assertEquals((error as ConfigError).variable, variable);
  }
});

Deno.test("PULSAR_PREFETCH is how many messages a minion may hold", () => {
  const settings = readPulsarSettings({
    PULSAR_TOPIC: "t",
    PULSAR_PREFETCH: "1000",
  });
  assertEquals(settings.prefetch, 1000);
});
