/**
 * A throwaway PostgreSQL 15 cluster on a free loopback port: initdb into a
 * temporary directory and the server run as the `postgres` user, since the
 * server refuses to run as root.
 *
 * @module
 */

import postgres from "postgres";
import {
  available,
  freePort,
  listening,
  type RunningService,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

const BIN = "/usr/lib/postgresql/15/bin";
const USER = "postgres";

/** Whether PostgreSQL 15 is installed (throws under CI when it is not). */
export function postgresAvailable(): boolean {
  return available(`${BIN}/initdb`, "bash tests/services/install.sh postgres");
}

/** Runs `command` as the postgres user when this process is root. */
function asUser(command: string, args: string[]): [string, string[]] {
  return Deno.uid() === 0
    ? ["runuser", ["-u", USER, "--", command, ...args]]
    : [command, args];
}

/** Starts a fresh cluster; `env.DATABASE_URL` points at it. */
export async function startPostgres(): Promise<RunningService> {
  const port = freePort();
  // Under /tmp rather than .cache: the postgres user must reach it.
  const dir = await Deno.makeTempDir({ prefix: "minionize-pg-" });
  if (Deno.uid() === 0) {
    const { uid, gid } = await userIds(USER);
    await Deno.chown(dir, uid, gid);
  }
  const [initdb, initArgs] = asUser(`${BIN}/initdb`, [
    "-D",
    `${dir}/data`,
    "-A",
    "trust",
    "-U",
    "postgres",
    "--no-sync",
  ]);
  const init = await new Deno.Command(initdb, {
    args: initArgs,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!init.success) {
    throw new Error(
      `initdb failed: ${new TextDecoder().decode(init.stderr).trim()}`,
    );
  }
  const [postgres, args] = asUser(`${BIN}/postgres`, [
    "-D",
    `${dir}/data`,
    "-p",
    String(port),
    "-h",
    "127.0.0.1",
    "-k",
    dir,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
  ]);
  const server = await spawnServer("postgres", postgres, args);
  try {
    await waitUntil("postgres", () => _ready(port));
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n${await tail(server.log)}`);
  }
  return {
    env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres` },
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n").find((
    entry,
  ) => entry.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(
      `no '${name}' user: run 'bash tests/services/install.sh postgres'`,
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** Whether the server accepts sessions (it listens before it is ready). */
async function _ready(port: number): Promise<boolean> {
  if (!(await listening(port))) return false;
  const { success } = await new Deno.Command(`${BIN}/pg_isready`, {
    args: ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"],
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}

/** The params of the rows in state `failed` of `POSTGRES_TABLE`. */
export async function postgresFailed(
  env: Record<string, string>,
): Promise<string[]> {
  const sql = postgres(env.DATABASE_URL!, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ param: string }[]>`
      select param from ${sql(env.POSTGRES_TABLE!)}
      where state = 'failed' order by id`;
    return rows.map((row) => row.param);
  } finally {
    await sql.end();
  }
}
