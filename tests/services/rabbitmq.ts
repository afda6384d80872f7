/**
 * A RabbitMQ node for tests: Debian's `rabbitmq-server` run in the
 * foreground as its own node (own name, data, logs, config and Erlang
 * cookie under a temp dir), AMQP, Erlang distribution and epmd all on free
 * loopback ports, so two test runs, or a system node, never meet.
 *
 * @module
 */

import {
  available,
  freePort,
  listening,
  type RunningService,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

/** Debian's script that runs the node itself (not the su wrapper). */
const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const INSTALL = "bash tests/services/install.sh rabbitmq";

/** Whether a RabbitMQ node can be started here (see {@linkcode available}). */
export function rabbitmqAvailable(): boolean {
  return available(SERVER, INSTALL) && available("epmd", INSTALL);
}

/** A running node, with `rabbitmqctl` pointed at it. */
export interface RunningRabbitmq extends RunningService {
  /** Runs `rabbitmqctl ARGS` against this node; resolves to its output. */
  ctl(...args: string[]): Promise<string>;
}

/** How {@linkcode startRabbitmq} configures the node. */
export interface RabbitmqOptions {
  /**
   * The server's `consumer_timeout`, in ms: a delivery unacked for longer
   * closes its channel (checked every 500 ms instead of every minute).
   * @default {the server's default, 30 minutes}
   */
  consumerTimeoutMs?: number;
}

/** Starts a fresh node; `env.AMQP_URL` points at it. */
export async function startRabbitmq(
  options: RabbitmqOptions = {},
): Promise<RunningRabbitmq> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-rabbitmq-" });
  const port = freePort();
  const distPort = freePort();
  const epmdPort = freePort();
  await Deno.writeTextFile(
    `${dir}/rabbitmq.conf`,
    [
      `listeners.tcp.default = 127.0.0.1:${port}`,
      "log.console = true",
      "log.console.level = warning",
      "log.file = false",
      // Test machines have small disks and other tenants: never block publishers.
      "disk_free_limit.absolute = 10MB",
      "vm_memory_high_watermark.relative = 0.2",
      ...(options.consumerTimeoutMs === undefined
        ? []
        : [`consumer_timeout = ${options.consumerTimeoutMs}`]),
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    `${dir}/advanced.config`,
    options.consumerTimeoutMs === undefined
      ? "[].\n"
      : "[{rabbit, [{channel_tick_interval, 500}]}].\n",
  );
  await Deno.writeTextFile(`${dir}/enabled_plugins`, "[].\n");
  await Deno.writeTextFile(`${dir}/rabbitmq-env.conf`, "");
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: dir, // the Erlang cookie is written here
    LANG: "C.UTF-8",
    RABBITMQ_NODENAME: `minionize-${port}@localhost`,
    RABBITMQ_USE_LONGNAME: "false",
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:
      "-kernel inet_dist_use_interface {127,0,0,1}",
    RABBITMQ_CONF_ENV_FILE: `${dir}/rabbitmq-env.conf`,
    RABBITMQ_CONFIG_FILE: `${dir}/rabbitmq.conf`,
    RABBITMQ_ADVANCED_CONFIG_FILE: `${dir}/advanced.config`,
    RABBITMQ_ENABLED_PLUGINS_FILE: `${dir}/enabled_plugins`,
    RABBITMQ_MNESIA_BASE: `${dir}/mnesia`,
    RABBITMQ_LOG_BASE: `${dir}/log`,
    RABBITMQ_LOGS: "-",
    RABBITMQ_PID_FILE: `${dir}/rabbit.pid`,
    RABBITMQ_PLUGINS_EXPAND_DIR: `${dir}/plugins-expand`,
  };
  // epmd runs in the foreground in its own process group, so stopping the
  // test's services stops it too (a node left to start its own epmd would
  // leave a daemon behind).
  const epmd = await spawnServer("epmd", "epmd", [
    "-port",
    String(epmdPort),
    "-address",
    "127.0.0.1",
  ], { env });
  const node = await spawnServer("rabbitmq", SERVER, [], { env, cwd: dir });
  const stop = async () => {
    await node.stop(15_000);
    await epmd.stop(2_000);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let exited = false;
  node.child.status.then(() => exited = true);
  try {
    // Ready once AMQP accepts connections (boot takes 5-20 s here).
    await waitUntil("RabbitMQ", () => exited || listening(port), 90_000);
    if (exited) throw new Error("RabbitMQ exited during start");
  } catch (error) {
    const log = await tail(node.log);
    await stop();
    throw new Error(`${(error as Error).message}:\n${log}`, { cause: error });
  }
  return {
    env: { AMQP_URL: `amqp://guest:guest@127.0.0.1:${port}` },
    stop,
    async ctl(...args) {
      const out = await new Deno.Command("/usr/lib/rabbitmq/bin/rabbitmqctl", {
        args: ["-q", ...args],
        env,
        stdin: "null",
      }).output();
      const text = new TextDecoder();
      if (!out.success) {
        throw new Error(
          `rabbitmqctl ${args.join(" ")} failed: ${text.decode(out.stderr)}`,
        );
      }
      return text.decode(out.stdout);
    },
  };
}
