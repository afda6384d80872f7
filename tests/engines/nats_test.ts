import {
  natsAvailable,
  natsDeadLetters,
  restartNats,
  startNats,
} from "../services/nats.ts";
import { brokerCases, publish } from "./_broker_cases.ts";
import { natsEngine } from "../../engines/nats.ts";
import { waitUntil } from "../services/harness.ts";

brokerCases({
  engine: "nats",
  available: natsAvailable,
  start: startNats,
  scope: (tag) => ({ NATS_STREAM: tag }),
  unreachable: { NATS_URL: "nats://127.0.0.1:1" },
  releaseKeepsAttempt: false,
  dropConnections: (env) => restartNats(env.NATS_URL!),
});

Deno.test({
  name:
    "nats engine moves a message whose minions keep dying to the dead letters at MaxDeliver",
  ignore: !natsAvailable(),
  async fn() {
    const service = await startNats();
    const env = {
      ...service.env,
      NATS_STREAM: "dying",
      NATS_MAX_DELIVER: "2",
      MINION_LEASE: "1",
    };
    const engine = await natsEngine.open({
      env,
      concurrency: 2,
      dryRun: false,
    });
    try {
      await publish("nats", env, ["poison"]);
      const never = new AbortController().signal;
      // Taken twice and never settled, as by two minions killed with -9.
      for (const attempt of [1, 2]) {
        const delivery = await engine.next(never);
        if (delivery?.param !== "poison" || delivery.attempt !== attempt) {
          throw new Error(`delivery ${attempt}: ${JSON.stringify(delivery)}`);
        }
      }
      // The server gives up on it when a live minion asks for work.
      const live = await natsEngine.open({
        env,
        concurrency: 1,
        dryRun: false,
      });
      try {
        const got = await live.next(AbortSignal.timeout(5_000));
        if (got !== undefined) {
          throw new Error("the message was handed out again");
        }
      } finally {
        await live.close();
      }
      await waitUntil(
        "the dead letter",
        async () => (await natsDeadLetters(env)).join() === "poison",
        15_000,
      );
      if (await engine.remaining?.() !== 0) {
        throw new Error("the message is still in the stream");
      }
    } finally {
      await engine.close();
      await service.stop();
    }
  },
});
