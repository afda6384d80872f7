import { conformance } from "./suite.ts";
import { brokerQueue } from "./_broker_queue.ts";
import {
  redisAvailable,
  redisDeadLetters,
  startRedis,
} from "../services/redis.ts";

conformance({
  engine: "redis",
  jsonDecoder: { REDIS_DECODER: "json" },
  available: redisAvailable,
  start: startRedis,
  queue: (service, name) =>
    brokerQueue(
      "redis",
      service,
      (tag) => ({ REDIS_STREAM: tag }),
      redisDeadLetters,
      name,
    ),
});
