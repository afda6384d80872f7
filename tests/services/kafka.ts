/**
 * A Kafka broker for tests: one KRaft node (broker and controller in one
 * JVM) from the jars `install/kafka.sh` puts in `.cache/kafka/lib`, on free
 * loopback ports, its storage formatted fresh in a temp dir.
 *
 * @module
 */

import {
  available,
  CACHE,
  freePort,
  listening,
  type RunningService,
  type ServerProcess,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

const LIB = `${CACHE}/kafka/lib`;
const INSTALL = "bash tests/services/install.sh kafka";

/** Whether Java and the Kafka jars are here (see {@linkcode available}). */
export function kafkaAvailable(): boolean {
  return available("java", INSTALL) &&
    available(`${LIB}/kafka-clients-4.1.1.jar`, INSTALL);
}

/** A cluster id as Kafka writes them: 16 random bytes, base64url. */
function clusterId(): string {
  while (true) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
      .replaceAll("/", "_").replace(/=+$/, "");
    if (!id.startsWith("-")) return id; // would read as an option
  }
}

const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
# the line that says the broker is up
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
`;

/** A running broker that can be restarted on the same storage and ports. */
export interface RunningKafka extends RunningService {
  /** Stops the broker and starts it again, its data kept. */
  restart(): Promise<void>;
}

/**
 * Starts a fresh single-node cluster; `env.KAFKA_BROKERS` points at it.
 * The group coordinator accepts session timeouts down to 1 s, so tests can
 * make a dead consumer's partitions move quickly.
 */
export async function startKafka(): Promise<RunningKafka> {
  const dir = await Deno.makeTempDir({ prefix: "minionize-kafka-" });
  const port = freePort();
  const controller = freePort();
  const properties = `${dir}/server.properties`;
  await Deno.writeTextFile(
    properties,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      `log.dirs=${dir}/data`,
      "num.partitions=1",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "share.coordinator.state.topic.replication.factor=1",
      "share.coordinator.state.topic.min.isr=1",
      "group.initial.rebalance.delay.ms=0",
      "group.min.session.timeout.ms=1000",
      "group.consumer.min.session.timeout.ms=1000",
      "group.consumer.min.heartbeat.interval.ms=500",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(`${dir}/log4j2.properties`, LOG4J2);
  const java = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${dir}/log4j2.properties`,
    `-Dkafka.logs.dir=${dir}/logs`,
    "-cp",
    `${LIB}/*`,
  ];
  const env = { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: dir };
  const format = await new Deno.Command("java", {
    args: [
      ...java,
      "kafka.tools.StorageTool",
      "format",
      "-t",
      clusterId(),
      "-c",
      properties,
    ],
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  if (!format.success) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(
      `Kafka storage format failed: ${new TextDecoder().decode(format.stderr)}`,
    );
  }
  let server: ServerProcess | undefined;
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  // Starts the broker on the formatted storage; ready once it logged so.
  const boot = async () => {
    const started = await spawnServer("kafka", "java", [
      ...java,
      "kafka.Kafka",
      properties,
    ], { env, cwd: dir });
    server = started;
    let exited = false;
    started.child.status.then(() => exited = true);
    try {
      await waitUntil(
        "Kafka",
        async () =>
          exited || (await listening(port) &&
            (await Deno.readTextFile(started.log)).includes(
              "Kafka Server started",
            )),
        120_000,
      );
      if (exited) throw new Error("Kafka exited during start");
    } catch (error) {
      const log = await tail(started.log);
      await started.stop(15_000);
      throw new Error(`${(error as Error).message}:\n${log}`, {
        cause: error,
      });
    }
  };
  try {
    await boot();
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    env: { KAFKA_BROKERS: `127.0.0.1:${port}` },
    async stop() {
      await server?.stop(15_000);
      await remove();
    },
    async restart() {
      await server?.stop(15_000);
      await boot();
    },
  };
}
