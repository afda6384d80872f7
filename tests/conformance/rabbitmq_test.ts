import * as amqp from "amqplib";
import { conformance } from "./suite.ts";
import { rabbitmqAvailable, startRabbitmq } from "../services/rabbitmq.ts";

// A killed minion's connection drops at once and the broker requeues what
// it held: the "lease" is only the time to notice the closed socket.
conformance({
  engine: "rabbitmq",
  jsonDecoder: { AMQP_DECODER: "json" },
  available: rabbitmqAvailable,
  start: startRabbitmq,
  queue(service, name) {
    const queue = `c-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}-${
      crypto.randomUUID().slice(0, 6)
    }`;
    const url = service.env.AMQP_URL!;
    return Promise.resolve({
      env: { ...service.env, AMQP_QUEUE: queue },
      leaseMs: 1_000,
      async deadLetters() {
        const connection = await amqp.connect(url);
        try {
          const channel = await connection.createChannel();
          const bodies: string[] = [];
          while (true) {
            const msg = await channel.get(`${queue}.failed`, { noAck: true });
            if (msg === false) return bodies;
            bodies.push(msg.content.toString());
          }
        } finally {
          await connection.close();
        }
      },
      close: () => Promise.resolve(),
    });
  },
});
