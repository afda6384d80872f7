import { createClient } from "redis";
import { redisAvailable, startRedis } from "../services/redis.ts";
import { brokerCases } from "./_broker_cases.ts";

brokerCases({
  engine: "redis",
  available: redisAvailable,
  start: startRedis,
  scope: (tag) => ({ REDIS_STREAM: tag }),
  decoderVariable: "REDIS_DECODER",
  async failed(env) {
    const client = createClient({ url: env.REDIS_URL!, RESP: 2 });
    await client.connect();
    try {
      const entries = await client.sendCommand<[string, string[]][]>([
        "XRANGE",
        `${env.REDIS_STREAM}:failed`,
        "-",
        "+",
      ]);
      return entries.map(([, fields]) => fields[fields.indexOf("param") + 1]!);
    } finally {
      client.destroy();
    }
  },
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
