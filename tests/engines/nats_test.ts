import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsAvailable, startNats } from "../services/nats.ts";
import { brokerCases } from "./_broker_cases.ts";

brokerCases({
  engine: "nats",
  available: natsAvailable,
  start: startNats,
  scope: (tag) => ({ NATS_STREAM: tag }),
  decoderVariable: "NATS_DECODER",
  async failed(env) {
    const nc = await connect({ servers: env.NATS_URL! });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = `${env.NATS_STREAM}_failed`;
      const { state } = await jsm.streams.info(stream);
      const texts: string[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
        const stored = await jsm.streams.getMessage(stream, { seq });
        if (stored) texts.push(stored.string());
      }
      return texts;
    } finally {
      await nc.close();
    }
  },
  unreachable: { NATS_URL: "nats://127.0.0.1:1" },
  releaseKeepsAttempt: false,
});
