import { conformance } from "./suite.ts";
import { available } from "../services/harness.ts";
import {
  PULSAR_BROKER_JAR,
  PULSAR_INSTALL,
  type RunningPulsar,
  startPulsar,
} from "../services/pulsar.ts";
import { Consumer, PulsarClient } from "../../engines/pulsar/mod.ts";
import { fullTopicName } from "../../engines/pulsar/client/mod.ts";

let cases = 0;

/** Whatever reaches `topic` until it stays quiet for `quietMs`. */
async function drain(
  serviceUrl: string,
  topic: string,
  quietMs = 3_000,
): Promise<string[]> {
  const client = new PulsarClient({ serviceUrl });
  const consumer = await Consumer.open(client, {
    topic: fullTopicName(topic),
    subscription: "conformance-reader",
    permits: 100,
  });
  const out: string[] = [];
  try {
    while (true) {
      const received = await consumer.receive(AbortSignal.timeout(quietMs));
      if (!received) break;
      out.push(new TextDecoder().decode(received.message.payload));
      received.ack();
    }
  } finally {
    await consumer.close();
    await client.close();
  }
  return out;
}

// A fresh topic per case. A killed minion's messages come back as soon as
// the broker sees its connection drop: no lease to wait for.
conformance({
  engine: "pulsar",
  jsonDecoder: { PULSAR_DECODER: "json" },
  available: () =>
    available("java", PULSAR_INSTALL) &&
    available(PULSAR_BROKER_JAR, PULSAR_INSTALL),
  start: startPulsar,
  queue(service, name) {
    const broker = service as RunningPulsar;
    const topic = `${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}-${
      Date.now().toString(36)
    }-${++cases}`;
    return Promise.resolve({
      env: { ...broker.env, PULSAR_TOPIC: topic },
      leaseMs: 0,
      deadLetters: () => drain(broker.serviceUrl, `${topic}-minionize-DLQ`),
      close: () => Promise.resolve(),
    });
  },
});
