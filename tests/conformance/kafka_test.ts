import { Consumer, stringDeserializers } from "@platformatic/kafka";
import { conformance } from "./suite.ts";
import { kafkaAvailable, startKafka } from "../services/kafka.ts";

// A killed minion's partitions move once its session times out: 3 s here.
conformance({
  engine: "kafka",
  jsonDecoder: { KAFKA_DECODER: "json" },
  available: kafkaAvailable,
  start: startKafka,
  queue(service, name) {
    const topic = `c-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}-${
      crypto.randomUUID().slice(0, 6)
    }`;
    const brokers = service.env.KAFKA_BROKERS!;
    return Promise.resolve({
      env: {
        ...service.env,
        KAFKA_TOPIC: topic,
        KAFKA_GROUP: `g-${topic}`,
        KAFKA_PARTITIONS: "4",
        KAFKA_SESSION_TIMEOUT: "3",
      },
      leaseMs: 3_000,
      async deadLetters() {
        const dead = `${topic}.failed`;
        const consumer = new Consumer({
          clientId: "conformance",
          groupId: `read-${crypto.randomUUID()}`,
          bootstrapBrokers: [brokers],
          deserializers: stringDeserializers,
        });
        try {
          const ends = await consumer.listOffsets({ topics: [dead] });
          const total = (ends.get(dead) ?? [])
            .reduce((sum, end) => sum + Number(end), 0);
          const values: string[] = [];
          if (total === 0) return values;
          const stream = await consumer.consume({
            topics: [dead],
            mode: "earliest",
            autocommit: false,
            maxWaitTime: 500,
          });
          for await (const record of stream) {
            values.push(record.value ?? "");
            if (values.length >= total) break;
          }
          await stream.close();
          return values;
        } finally {
          await consumer.close(true);
        }
      },
      close: () => Promise.resolve(),
    });
  },
});
