import { conformance } from "./suite.ts";
import { brokerQueue } from "./_broker_queue.ts";
import { natsAvailable, natsDeadLetters, startNats } from "../services/nats.ts";

conformance({
  engine: "nats",
  jsonDecoder: { NATS_DECODER: "json" },
  available: natsAvailable,
  start: startNats,
  queue: (service, name) =>
    brokerQueue(
      "nats",
      service,
      (tag) => ({ NATS_STREAM: tag }),
      natsDeadLetters,
      name,
    ),
});
