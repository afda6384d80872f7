import { createClient } from "redis";
import {
  redisAvailable,
  redisDeadLetters,
  startRedis,
} from "../services/redis.ts";
import { brokerCases } from "./_broker_cases.ts";

brokerCases({
  engine: "redis",
  available: redisAvailable,
  start: startRedis,
  scope: (tag) => ({ REDIS_STREAM: tag }),
  decoderVariable: "REDIS_DECODER",
  failed: redisDeadLetters,
  unreachable: { REDIS_URL: "redis://127.0.0.1:1" },
  releaseKeepsAttempt: true,
  async dropConnections(env) {
    const client = createClient({ url: env.REDIS_URL! });
    await client.connect();
    await client.sendCommand([
      "CLIENT",
      "KILL",
      "TYPE",
      "normal",
      "SKIPME",
      "yes",
    ]);
    client.destroy();
  },
});
