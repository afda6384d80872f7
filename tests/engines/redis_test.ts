import { createClient } from "redis";
import { redisAvailable, startRedis } from "../services/redis.ts";
import { brokerCases, publish } from "./_broker_cases.ts";
import { redisEngine } from "../../engines/redis.ts";

brokerCases({
  engine: "redis",
  available: redisAvailable,
  start: startRedis,
  scope: (tag) => ({ REDIS_STREAM: tag }),
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

Deno.test({
  name:
    "redis engine does not take back an entry another minion claimed after the lease",
  ignore: !redisAvailable(),
  async fn() {
    const service = await startRedis();
    const env = { ...service.env, REDIS_STREAM: "stolen", MINION_LEASE: "1" };
    const open = () => redisEngine.open({ env, concurrency: 1, dryRun: false });
    const slow = await open();
    const live = await open();
    try {
      await publish("redis", env, ["only"]);
      const never = new AbortController().signal;
      const first = await slow.next(never);
      if (first?.param !== "only") throw new Error("slow minion got nothing");
      // The slow minion pauses past its lease; the live one claims the entry.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const second = await live.next(never);
      if (second?.param !== "only" || second.attempt !== 2) {
        throw new Error(`live minion got ${JSON.stringify(second)}`);
      }
      let refused = false;
      await first.renew!().catch(() => refused = true);
      if (!refused) throw new Error("the slow minion renewed a lost entry");
      await first.nack();
      // Still the live minion's: not handed out again while it renews.
      await second.renew!();
      const again = await slow.next(AbortSignal.timeout(500));
      if (again !== undefined) {
        throw new Error("the entry was handed out again");
      }
      await second.ack();
    } finally {
      await slow.close();
      await live.close();
      await service.stop();
    }
  },
});
