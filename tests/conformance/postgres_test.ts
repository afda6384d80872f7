import { conformance } from "./suite.ts";
import { brokerQueue } from "./_broker_queue.ts";
import {
  postgresAvailable,
  postgresFailed,
  startPostgres,
} from "../services/postgres.ts";

conformance({
  engine: "postgres",
  jsonDecoder: { POSTGRES_DECODER: "json" },
  available: postgresAvailable,
  start: startPostgres,
  queue: (service, name) =>
    brokerQueue(
      "postgres",
      service,
      (tag) => ({ POSTGRES_TABLE: tag }),
      postgresFailed,
      name,
    ),
});
