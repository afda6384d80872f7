import {
  natsAvailable,
  natsDeadLetters,
  restartNats,
  startNats,
} from "../services/nats.ts";
import { brokerCases } from "./_broker_cases.ts";

brokerCases({
  engine: "nats",
  available: natsAvailable,
  start: startNats,
  scope: (tag) => ({ NATS_STREAM: tag }),
  decoderVariable: "NATS_DECODER",
  failed: natsDeadLetters,
  unreachable: { NATS_URL: "nats://127.0.0.1:1" },
  releaseKeepsAttempt: false,
  dropConnections: (env) => restartNats(env.NATS_URL!),
});
