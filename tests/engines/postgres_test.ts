import postgres from "postgres";
import { postgresAvailable, startPostgres } from "../services/postgres.ts";
import { brokerCases } from "./_broker_cases.ts";

brokerCases({
  engine: "postgres",
  available: postgresAvailable,
  start: startPostgres,
  scope: (tag) => ({ POSTGRES_TABLE: tag }),
  unreachable: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/postgres" },
  releaseKeepsAttempt: true,
  async dropConnections(env) {
    const sql = postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where pid <> pg_backend_pid() and backend_type = 'client backend'`;
    await sql.end();
  },
});
