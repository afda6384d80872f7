/**
 * A real OAR 2.5 on one machine for the cluster tests, server and node at
 * once, from Debian's packages: a PostgreSQL database of its own, the
 * node's sshd (through which OAR's bipbip starts each job's `oarexec` as
 * the `oar` user) and the server, Almighty, on free loopback ports, with N
 * resources on the node `localhost`. Jobs run as the user `minionize`
 * (OAR refuses root's).
 *
 * OAR reads its settings from /etc/oar/oar.conf only (its setuid wrappers
 * fix the path), so each run writes that file from the package's template
 * (the database and ports of the run, the log in the run's directory, no
 * cpuset/cgroup job resource manager: that one purges the job user's files
 * from /tmp at each job's end). OAR being one per machine, runs take a lock
 * (`.cache/oar.lock`) and wait for each other. `stop()` deletes the jobs,
 * stops everything started and ends the leftover processes of the `oar`
 * and `minionize` users, found by id. Install with
 * `bash tests/services/install.sh oar`.
 *
 * @module
 */

import {
  CACHE,
  freePort,
  listening,
  type RunningService,
  type ServerProcess,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";
import { startPostgres } from "./postgres.ts";

/** The installer's command, for skip messages. */
export const OAR_INSTALL = "bash tests/services/install.sh oar";

/** The user jobs run as. */
export const OAR_USER = "minionize";

/** How {@linkcode startOar} sets the node up. */
export interface OarOptions {
  /** Resources (cores) of the node: one job each. @default {4} */
  resources?: number;
}

/** What a command printed and returned. */
export interface OarResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running OAR. */
export interface RunningOar extends RunningService {
  /** The run's directory (logs, configuration). */
  dir: string;
  /** The job user's ids and home. */
  user: { name: string; uid: number; gid: number; home: string };
  /**
   * Runs a command as the job user (`oarsub`, `oarstat`, minionize ...),
   * in `cwd`, with `env` over this process's environment.
   */
  run(
    command: string,
    args: string[],
    options?: { cwd?: string; env?: Record<string, string> },
  ): Promise<OarResult>;
}

const TEMPLATE = "/usr/share/oar/oar-common/oar.conf";
const SSHD_TEMPLATE = "/usr/share/oar/oar-node/sshd_config";

async function account(name: string) {
  const line = (await Deno.readTextFile("/etc/passwd")).split("\n")
    .find((entry) => entry.startsWith(`${name}:`));
  const [, , uid, gid, , home] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined || home === undefined) {
    throw new Error(`no '${name}' user: run '${OAR_INSTALL}'`);
  }
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** `text` with `KEY="value"` set (uncommented, replaced or added). */
function setKey(text: string, key: string, value: string): string {
  const line = `${key}="${value}"`;
  const pattern = new RegExp(`^#?\\s*${key}=.*$`, "m");
  return pattern.test(text)
    ? text.replace(pattern, line)
    : `${text}\n${line}\n`;
}

function commentKey(text: string, key: string): string {
  return text.replace(new RegExp(`^${key}=`, "gm"), `#${key}=`);
}

async function execute(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<OarResult> {
  // oarsub takes the launching directory from PWD, as a shell keeps it.
  const env = { ...options.env, ...(options.cwd ? { PWD: options.cwd } : {}) };
  const output = await new Deno.Command(command, {
    args,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Pids of the processes of `uid`, read from /proc. */
async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^[0-9]+$/.test(entry.name)) continue;
    try {
      const status = await Deno.readTextFile(`/proc/${entry.name}/status`);
      const real = /^Uid:\s+([0-9]+)/m.exec(status)?.[1];
      if (Number(real) === uid) pids.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Starts OAR with `resources` resources on the node `localhost` and
 * resolves once they are all Alive.
 *
 * @throws {Error} when a part does not come up (with its log)
 */
export async function startOar(options: OarOptions = {}): Promise<RunningOar> {
  const resources = options.resources ?? 4;
  await Deno.mkdir(CACHE, { recursive: true });
  const lock = await Deno.open(`${CACHE}/oar.lock`, {
    create: true,
    write: true,
  });
  await lock.lock(true);
  const user = await account(OAR_USER);
  const oarUser = await account("oar");
  const dir = await Deno.makeTempDir({ prefix: "minionize-oar-" });
  await Deno.chmod(dir, 0o755);
  const started: ServerProcess[] = [];
  let database: RunningService | undefined;
  const stopAll = async () => {
    for (const server of started.reverse()) await server.stop(5_000);
    started.length = 0;
    await database?.stop();
    for (const uid of [user.uid, oarUser.uid]) {
      for (const pid of await processesOf(uid)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    lock.close();
  };
  const asUser = (
    command: string,
    args: string[],
    options: { cwd?: string; env?: Record<string, string> } = {},
  ) => execute("runuser", ["-u", OAR_USER, "--", command, ...args], options);

  try {
    database = await startPostgres();
    const dbPort = new URL(database.env.DATABASE_URL!).port;
    const serverPort = freePort();
    const sshPort = freePort();
    const log = `${dir}/oar.log`;
    await Deno.writeTextFile(log, "");
    await Deno.chown(log, oarUser.uid, oarUser.gid);

    let conf = await Deno.readTextFile(TEMPLATE);
    for (
      const [key, value] of Object.entries({
        DB_TYPE: "Pg",
        DB_HOSTNAME: "127.0.0.1",
        DB_PORT: dbPort,
        DB_BASE_NAME: "oar",
        DB_BASE_LOGIN: "oar",
        DB_BASE_PASSWD: "oar",
        DB_BASE_LOGIN_RO: "oar_ro",
        DB_BASE_PASSWD_RO: "oar_ro",
        SERVER_HOSTNAME: "127.0.0.1",
        SERVER_PORT: String(serverPort),
        LOG_FILE: log,
        LOG_LEVEL: "3",
        OPENSSH_CMD:
          `/usr/bin/ssh -p ${sshPort} -e none -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`,
        SCHEDULER_MIN_TIME_BETWEEN_2_CALLS: "1",
      })
    ) conf = setKey(conf, key, value);
    conf = commentKey(conf, "JOB_RESOURCE_MANAGER_PROPERTY_DB_FIELD");
    conf = commentKey(conf, "CPUSET_PATH");
    await Deno.writeTextFile("/etc/oar/oar.conf", conf, { mode: 0o600 });
    await Deno.chown("/etc/oar/oar.conf", oarUser.uid, 0);

    const created = await execute("oar-database", [
      "--create",
      "--db-admin-user",
      "postgres",
      "--db-admin-pass",
      "",
      "-y",
    ]);
    if (created.code !== 0) {
      throw new Error(`oar-database --create failed: ${created.stderr}`);
    }

    // The node: OAR's own sshd, for the `oar` user's key only.
    let sshd = await Deno.readTextFile(SSHD_TEMPLATE);
    sshd = sshd.replace(/^Port .*$/m, `Port ${sshPort}`)
      .replace(/^UsePrivilegeSeparation .*$/m, "");
    sshd += `\nListenAddress 127.0.0.1\nPidFile ${dir}/sshd.pid\n`;
    await Deno.writeTextFile(`${dir}/sshd_config`, sshd);
    await Deno.mkdir("/run/sshd", { recursive: true });
    started.push(
      await spawnServer("oar-sshd", "/usr/sbin/sshd", [
        "-D",
        "-e",
        "-f",
        `${dir}/sshd_config`,
      ]),
    );
    await waitUntil("OAR's sshd", () => listening(sshPort), 30_000);

    started.push(await spawnServer("oar-almighty", "/usr/sbin/Almighty", []));
    await waitUntil("Almighty", () => listening(serverPort), 60_000);

    for (let i = 0; i < resources; i++) {
      const added = await execute("oarnodesetting", ["-a", "-h", "localhost"]);
      if (added.code !== 0) {
        throw new Error(`oarnodesetting -a failed: ${added.stderr}`);
      }
    }
    await waitUntil("the OAR node", async () => {
      const { stdout } = await execute("oarnodes", ["-s"]);
      return (stdout.match(/: Alive/g) ?? []).length === resources;
    }, 60_000);
  } catch (error) {
    const logs = await Promise.all(
      [...started.map((s) => s.log), `${dir}/oar.log`].map(async (path) =>
        `${path}:\n${await tail(path)}`
      ),
    );
    await stopAll();
    throw new Error(`${(error as Error).message}\n${logs.join("\n")}`, {
      cause: error,
    });
  }

  return {
    env: {},
    dir,
    user,
    run: asUser,
    async stop() {
      // Delete every job, and wait for OAR to see them go.
      const listed = await execute("oarstat", ["-J"]);
      const json = listed.stdout.indexOf("{");
      const ids = json < 0
        ? []
        : Object.keys(JSON.parse(listed.stdout.slice(json)));
      if (ids.length > 0) {
        await asUser("oardel", ids);
        await waitUntil("the OAR jobs to leave", async () => {
          const { stdout } = await execute("oarstat", []);
          return !/^\s*[0-9]+\s/m.test(stdout);
        }, 30_000).catch(() => {});
      }
      await stopAll();
    },
  };
}
