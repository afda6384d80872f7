/**
 * A real Apache Pulsar standalone (broker, embedded bookie and RocksDB
 * metadata in one JVM) from the jars `install/pulsar.sh` fetched, on free
 * loopback ports, its data in a fresh directory per start.
 *
 * @module
 */

import {
  CACHE,
  freePort,
  ROOT,
  type RunningService,
  type ServerProcess,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

/** Where `install/pulsar.sh` puts the broker's jars. */
export const PULSAR_LIB = `${CACHE}/pulsar/lib`;

/** The official Python client's interpreter (`install/pulsar.sh`). */
export const PULSAR_PYTHON = `${CACHE}/venv/bin/python`;

/** The installer to name when something is missing. */
export const PULSAR_INSTALL = "bash tests/services/install.sh pulsar";

/** The broker's jar: present once `install/pulsar.sh` ran. */
export const PULSAR_BROKER_JAR = `${PULSAR_LIB}/pulsar-broker-4.0.7.jar`;

/** A running standalone broker. */
export interface RunningPulsar extends RunningService {
  /** `pulsar://127.0.0.1:PORT` */
  serviceUrl: string;
  /** `pulsar+ssl://127.0.0.1:PORT`, when started with `tls`. */
  tlsServiceUrl?: string;
  /** `http://127.0.0.1:PORT`, the admin REST API. */
  adminUrl: string;
  /** Stops the broker and starts it again on the same ports and data. */
  restart(): Promise<void>;
}

// What bin/pulsar adds: module opens for BookKeeper and Netty, and the
// drivers that let the bookie keep its metadata in Pulsar's store.
const JVM_FLAGS = [
  "-Xms256m",
  "-Xmx768m",
  "-XX:MaxDirectMemorySize=512m",
  "-XX:+UseG1GC",
  "-XX:ActiveProcessorCount=2",
  "-Djute.maxbuffer=10485760",
  "-Djava.net.preferIPv4Stack=true",
  "-Dio.netty.tryReflectionSetAccessible=true",
  "--add-opens",
  "java.base/java.io=ALL-UNNAMED",
  "--add-opens",
  "java.base/java.util.zip=ALL-UNNAMED",
  "--add-opens",
  "java.base/java.nio=ALL-UNNAMED",
  "--add-opens",
  "java.base/jdk.internal.misc=ALL-UNNAMED",
  "--add-opens",
  "java.base/sun.net=ALL-UNNAMED",
  "--add-opens",
  "java.management/sun.management=ALL-UNNAMED",
  "-Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver",
  "-Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver",
  "-Dlog4j.shutdownHookEnabled=false",
  `-Dlog4j.configurationFile=${ROOT}tests/services/pulsar/log4j2.properties`,
];

/** Options of {@linkcode startPulsar}. */
export interface PulsarOptions {
  /** Lines added to standalone.conf (later keys win). @default {{}} */
  conf?: Record<string, string>;
  /** Bearer token for the admin API, when authentication is on. */
  adminToken?: string;
  /** Also listen for TLS on a free port (give the certificate in `conf`). */
  tls?: boolean;
}

/**
 * Starts a standalone broker and resolves once its admin API lists the
 * `public/default` namespace (the broker creates it last). Takes 10–60 s.
 */
export async function startPulsar(
  options: PulsarOptions = {},
): Promise<RunningPulsar> {
  const tlsPort = options.tls ? freePort() : undefined;
  const brokerPort = freePort();
  const webPort = freePort();
  const bookiePort = freePort();
  const dir = `${CACHE}/pulsar/run-${brokerPort}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const conf = await Deno.readTextFile(
    `${ROOT}tests/services/pulsar/standalone.conf`,
  );
  await Deno.writeTextFile(
    `${dir}/standalone.conf`,
    [
      conf,
      `brokerServicePort=${brokerPort}`,
      `webServicePort=${webPort}`,
      ...(tlsPort ? [`brokerServicePortTls=${tlsPort}`] : []),
      ...Object.entries(options.conf ?? {}).map(([k, v]) => `${k}=${v}`),
      "",
    ].join("\n"),
  );
  const args = [
    ...JVM_FLAGS,
    "-cp",
    `${PULSAR_LIB}/*`,
    "org.apache.pulsar.PulsarStandaloneStarter",
    "--config",
    `${dir}/standalone.conf`,
    "-nfw",
    "-nss",
    "-a",
    "127.0.0.1",
    "--bookkeeper-port",
    String(bookiePort),
    "--metadata-dir",
    `${dir}/metadata`,
    "--bookkeeper-dir",
    `${dir}/bookkeeper`,
  ];
  const adminUrl = `http://127.0.0.1:${webPort}`;
  const launch = async (): Promise<ServerProcess> => {
    const server = await spawnServer("pulsar", "java", args, { cwd: dir });
    let exited = false;
    server.child.status.then(() => exited = true);
    try {
      await waitUntil("pulsar standalone", async () => {
        if (exited) return true;
        const response = await fetch(
          `${adminUrl}/admin/v2/namespaces/public`,
          {
            headers: options.adminToken
              ? { authorization: `Bearer ${options.adminToken}` }
              : {},
          },
        );
        const body = await response.text();
        return response.ok && body.includes('"public/default"');
      }, 180_000);
      if (exited) throw new Error("the JVM exited");
    } catch (error) {
      const log = await tail(server.log);
      await server.stop(15_000);
      throw new Error(`pulsar standalone did not start:\n${log}`, {
        cause: error,
      });
    }
    return server;
  };
  let server: ServerProcess;
  try {
    server = await launch();
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  const stop = async () => {
    await server.stop(15_000);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const restart = async () => {
    await server.stop(15_000);
    server = await launch();
  };
  const serviceUrl = `pulsar://127.0.0.1:${brokerPort}`;
  return {
    ...(tlsPort ? { tlsServiceUrl: `pulsar+ssl://127.0.0.1:${tlsPort}` } : {}),
    serviceUrl,
    adminUrl,
    env: { PULSAR_CONNECTION: serviceUrl },
    stop,
    restart,
  };
}
