import { conformance } from "./suite.ts";
import {
  createQueue,
  pstestAvailable,
  startPstest,
} from "../services/pstest.ts";

// Against pstest: a 2 s ack deadline so a killed minion's param returns
// soon, and a dead-letter policy so attempts are counted by the server.
conformance({
  engine: "google",
  jsonDecoder: { GOOGLE_DECODER: "json" },
  available: pstestAvailable,
  start: startPstest,
  async queue(service, name) {
    const queue = await createQueue(
      service,
      name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40),
      { ackDeadlineSeconds: 2, maxDeliveryAttempts: 5 },
    );
    return {
      env: queue.env,
      leaseMs: 2_000,
      deadLetters: queue.drainDeadLetters,
      close: queue.close,
    };
  },
});
