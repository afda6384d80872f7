/**
 * Plug-ins by name, each imported only when chosen, so that a minion on the
 * file engine never loads a broker client. Adding an engine, callback or
 * reporter is one line here and one file beside the others.
 *
 * @module
 */

import type { EnginePlugin, ReporterPlugin } from "../core/contracts.ts";

/** Engines by the name `MINION_ENGINE` takes. */
export const ENGINES: Readonly<Record<string, () => Promise<EnginePlugin>>> = {
  execo: async () => (await import("../engines/execo/mod.ts")).execoEngine,
  file: async () => (await import("../engines/file.ts")).fileEngine,
  google: async () => (await import("../engines/google.ts")).googleEngine,
  kafka: async () => (await import("../engines/kafka.ts")).kafkaEngine,
  nats: async () => (await import("../engines/nats.ts")).natsEngine,
  postgres: async () => (await import("../engines/postgres.ts")).postgresEngine,
  pulsar: async () => (await import("../engines/pulsar/mod.ts")).pulsarEngine,
  rabbitmq: async () => (await import("../engines/rabbitmq.ts")).rabbitmqEngine,
  redis: async () => (await import("../engines/redis.ts")).redisEngine,
};

/** Reporters by the name `MINION_REPORTER` takes. */
export const REPORTERS: Readonly<
  Record<string, () => Promise<ReporterPlugin>>
> = {
  null: async () => (await import("../reporters/null.ts")).nullReporter,
  stdout: async () => (await import("../reporters/stdout.ts")).stdoutReporter,
  json: async () => (await import("../reporters/json.ts")).jsonReporter,
};
