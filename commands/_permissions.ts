/**
 * The narrowest Deno permissions a minion needs for its settings: the
 * engine's server or directory, the program, the reporter's and results'
 * directories, the stats address. `minionize permissions` prints them as a
 * `deno run` line; each is named here beside the code that needs it.
 *
 * @module
 */

import { resolve } from "node:path";
import type { Settings } from "../runner/config.ts";
import type { Env } from "../core/contracts.ts";
import { findExecutable } from "../core/path.ts";

/** Permissions by kind, each a list of what it is granted on. */
export interface Permissions {
  /** Paths read (a directory covers what is under it). */
  read: string[];
  /** Paths written. */
  write: string[];
  /** `host:port` connected to or listened on. */
  net: string[];
  /** Programs run, by name on PATH or by path. */
  run: string[];
  /** System information read (`hostname`, ...). */
  sys: string[];
  /**
   * Kinds that must be granted whole (`read`, `write`): Deno creates a
   * symbolic link only with unscoped `--allow-read` and `--allow-write`.
   */
  unscoped: string[];
  /**
   * What the settings cannot tell (a broker that redirects clients to
   * others, ...), to say beside the flags.
   */
  notes: string[];
}

/** What {@linkcode neededPermissions} looks at. */
export interface PermissionsOptions {
  /** The minion's settings. */
  settings: Settings;
  /** Its variables (environment, `.env`, flags). */
  env: Env;
  /** The program and its arguments; empty for none (a container's default). */
  command: readonly string[];
  /** The directory the minion runs in. @default {Deno.cwd()} */
  cwd?: string;
}

/** The `host:port` of `url`, with `port` when it names none. */
function hostPort(url: string, port: number): string {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  return `${host}:${parsed.port || port}`;
}

/** Whether this process runs the bundle of `deno task bundle`. */
function fromBundle(): boolean {
  return Symbol.for("minionize.bundle") in globalThis;
}

/** Deno's cache directory, where npm packages are kept (`DENO_DIR`). */
function denoDir(env: Env): string {
  if (env.DENO_DIR) return resolve(env.DENO_DIR);
  const home = env.HOME ?? "";
  if (Deno.build.os === "darwin") return `${home}/Library/Caches/deno`;
  return `${env.XDG_CACHE_HOME || `${home}/.cache`}/deno`;
}

/** Each engine's own needs, from its variables (with the engine's defaults). */
const ENGINES: Record<
  string,
  (env: Env, at: (path: string) => string) => Partial<Permissions>
> = {
  execo: (env, at) => {
    const dir = at(env.EXECO_PERSISTENCE_DIR?.trim() || "sweeps");
    if (env.EXECO_SHARED?.trim().toLowerCase() === "no") {
      return { read: [dir], write: [dir] };
    }
    // Without -A the engine cannot read the mount table (/proc), so it
    // takes the directory for one shared by several hosts and guards its
    // lock with a mark, a symbolic link.
    return {
      unscoped: ["read", "write"],
      notes: [
        `the execo engine marks its lock with a symbolic link, which Deno creates only with unscoped --allow-read and --allow-write; on a local disk no other host uses, EXECO_SHARED=no does without it: then --allow-read=${dir} --allow-write=${dir} are enough`,
      ],
    };
  },
  file: (env, at) => {
    const path = env.FILE_PATH?.trim() || "-";
    return path === "-" ? {} : { read: [at(path)] };
  },
  redis: (env) => ({
    net: [hostPort(env.REDIS_URL?.trim() || "redis://127.0.0.1:6379", 6379)],
  }),
  postgres: (env) => {
    const url = env.DATABASE_URL?.trim() ||
      "postgres://localhost:5432/postgres";
    return {
      net: [hostPort(url, 5432)],
      notes: new URL(url).searchParams.has("host")
        ? ["a DATABASE_URL host= socket needs --allow-read/--allow-write of it"]
        : [],
    };
  },
  nats: (env) => ({
    net: (env.NATS_URL?.trim() || "nats://127.0.0.1:4222").split(",")
      .map((url) => url.trim()).filter((url) => url)
      .map((url) =>
        hostPort(url.includes("://") ? url : `nats://${url}`, 4222)
      ),
    notes: [
      "NATS servers may advertise others of their cluster to clients: add those to --allow-net",
    ],
  }),
  rabbitmq: (env) => {
    const url = env.AMQP_URL?.trim() || "amqp://localhost";
    return { net: [hostPort(url, url.startsWith("amqps:") ? 5671 : 5672)] };
  },
  kafka: (env) => ({
    net: (env.KAFKA_BROKERS?.trim() || "localhost:9092").split(",")
      .map((broker) => broker.trim()).filter((broker) => broker),
    // From sources, the client reads its WebAssembly from its package in
    // Deno's cache; the bundle carries it inline.
    read: fromBundle() ? [] : [
      `${denoDir(env)}/npm/registry.npmjs.org/@platformatic/wasm-utils`,
    ],
    notes: [
      "Kafka clients connect to every broker the cluster advertises, beyond KAFKA_BROKERS: add those to --allow-net",
    ],
  }),
  pulsar: (env) => {
    const url = env.PULSAR_CONNECTION?.trim() || "pulsar://localhost:6650";
    return {
      net: [hostPort(url, url.startsWith("pulsar+ssl:") ? 6651 : 6650)],
      notes: [
        "a Pulsar cluster of several brokers redirects lookups to the topic's owner: add the brokers to --allow-net",
      ],
    };
  },
  google: (env, at) => {
    const emulator = env.PUBSUB_EMULATOR_HOST?.trim();
    if (emulator) return { net: [emulator] };
    const key = env.GOOGLE_APPLICATION_CREDENTIALS?.trim();
    return {
      net: ["pubsub.googleapis.com:443", "oauth2.googleapis.com:443"],
      read: key ? [at(key)] : [],
      notes: [
        "Google's client may also ask a metadata server (metadata.google.internal, 169.254.169.254) or read gcloud's credentials: add those if it says so",
      ],
    };
  },
};

/** Engines whose permissions this module knows. */
export const KNOWN_ENGINES: readonly string[] = Object.keys(ENGINES);

/**
 * The permissions a minion with these settings needs. Needs `--allow-read`
 * of PATH to find the program.
 *
 * @throws {Deno.errors.NotCapable} when it may not look for the program
 */
export async function neededPermissions(
  options: PermissionsOptions,
): Promise<Permissions> {
  const { settings, env, command } = options;
  const cwd = options.cwd ?? Deno.cwd();
  const at = (path: string) => resolve(cwd, path);
  const needs: Permissions = {
    // Settings files in the working directory, read even when absent.
    read: [at(".env"), at(".minionize.yml")],
    write: [],
    net: [],
    run: [],
    // Minion ids and reports carry the host name.
    sys: ["hostname"],
    unscoped: [],
    notes: [
      "a program is stopped with the processes it started, found in /proc, which Deno lets only -A read: with these flags a program stopped by --timeout or a signal is stopped alone",
    ],
  };
  const kinds = [
    "read",
    "write",
    "net",
    "run",
    "sys",
    "unscoped",
    "notes",
  ] as const;
  const add = (more: Partial<Permissions>) => {
    for (const kind of kinds) needs[kind].push(...(more[kind] ?? []));
  };
  add(
    ENGINES[settings.engine]?.(env, at) ?? {
      notes: [
        `engine '${settings.engine}': its permissions are not known here`,
      ],
    },
  );
  if (settings.reporter === "json" && !settings.dryRun) {
    add({
      write: [at(env.REPORTER_JSON_DIRECTORY?.trim() || "minion-report")],
    });
  }
  if (settings.results !== undefined) {
    // Each run's output files are opened for reading and writing.
    const results = at(settings.results);
    add({ read: [results], write: [results] });
  }
  if (settings.stats && !settings.dryRun) {
    add({ net: [`${settings.stats.hostname}:${settings.stats.port}`] });
  }
  if (
    settings.walltimeMs === undefined && env.SLURM_JOB_ID &&
    !env.SLURM_JOB_END_TIME
  ) {
    add({ run: ["squeue"] }); // asked once for the job's end time
  }
  const image = env.MINION_CONTAINER_IMAGE?.trim();
  if ((image || command.length > 0) && !settings.dryRun && linux) {
    // The watchdog that stops a killed minion's programs (runner/watchdog.ts).
    add({ run: ["sh"] });
  }
  if (image) {
    const runtime = env.MINION_CONTAINER_RUNTIME?.trim();
    const candidates = runtime
      ? [runtime]
      : ["podman", "docker", "apptainer", "singularity"];
    for (const candidate of candidates) {
      const found = await findExecutable(candidate, env.PATH);
      if (found) {
        add({ read: [at(found)], run: [candidate] });
        break;
      }
    }
  } else if (command.length > 0 && !settings.dryRun) {
    const program = command[0]!;
    if (settings.shell) add({ run: ["sh"] });
    else if (/[{}]/.test(program)) {
      add({
        notes: ["the program is chosen per param: add each to --allow-run"],
      });
    } else {
      const found = await findExecutable(program, env.PATH);
      // Its path is read to check that it exists before taking params.
      if (found) add({ read: [at(found)] });
      add({ run: [program.includes("/") ? at(program) : program] });
    }
  }
  return needs;
}

const linux = Deno.build.os === "linux";

/** Drops duplicates and paths under another path of the list. */
function narrowest(paths: string[]): string[] {
  const unique = [...new Set(paths)].sort();
  return unique.filter((path) =>
    !unique.some((other) => other !== path && path.startsWith(`${other}/`))
  );
}

/**
 * The `--allow-*` flags for `needs`: every variable (the minion passes its
 * environment to its programs), the rest as listed.
 */
export function permissionFlags(needs: Permissions): string[] {
  const flags = ["--allow-env"];
  const list = (kind: string, values: string[]) => {
    if (needs.unscoped.includes(kind)) flags.push(`--allow-${kind}`);
    else if (values.length > 0) {
      flags.push(`--allow-${kind}=${values.join(",")}`);
    }
  };
  list("sys", [...new Set(needs.sys)]);
  list("read", narrowest(needs.read));
  list("write", narrowest(needs.write));
  list("net", [...new Set(needs.net)]);
  list("run", [...new Set(needs.run)]);
  return flags;
}
