/**
 * The `pulsar` engine against a real Pulsar standalone broker: minions run
 * end to end through the CLI, and the official Python client publishes and
 * reads beside them. The cases every engine shares (many minions, kill -9,
 * malformed JSON, dry run) are in tests/conformance/pulsar_test.ts; these
 * are Pulsar's own.
 */

import { assert, assertEquals } from "../_assert.ts";
import { buildBundle } from "../_bundle.ts";
import { cliCommand } from "../_cli.ts";
import { available, ROOT } from "../services/harness.ts";
import {
  PULSAR_BROKER_JAR,
  PULSAR_INSTALL,
  PULSAR_PYTHON,
  type RunningPulsar,
  startPulsar,
} from "../services/pulsar.ts";
import { pulsarEngine } from "../../engines/pulsar/mod.ts";
import { Consumer, PulsarClient } from "../../engines/pulsar/mod.ts";
import { fullTopicName } from "../../engines/pulsar/client/mod.ts";
import type { JsonValue } from "../../core/contracts.ts";

const ok = available("java", PULSAR_INSTALL) &&
  available(PULSAR_BROKER_JAR, PULSAR_INSTALL) &&
  available(PULSAR_PYTHON, PULSAR_INSTALL);

const PEER = `${ROOT}tests/testdata/pulsar_peer.py`;

let topicCount = 0;
function newTopic(): string {
  return `t${Date.now().toString(36)}-${++topicCount}`;
}

async function publish(
  broker: RunningPulsar,
  topic: string,
  params: JsonValue[],
  extra: Record<string, string> = {},
): Promise<void> {
  async function* each() {
    yield* params;
  }
  const count = await pulsarEngine.publish!(each(), {
    env: { ...broker.env, PULSAR_TOPIC: topic, ...extra },
    create: true,
  });
  assertEquals(count, params.length, "published");
}

interface Minion {
  child: Deno.ChildProcess;
  output: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `minionize ARGS` on the pulsar engine. */
function minion(
  broker: RunningPulsar,
  env: Record<string, string>,
  args: string[],
): Minion {
  const child = cliCommand(args, {
    env: { ...broker.env, MINION_ENGINE: "pulsar", ...env },
  }).spawn();
  const output = child.output().then((out) => ({
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  }));
  return { child, output };
}

/** A shell program that appends its param (and attempt) to `file`. */
function recorder(file: string, tail = ""): string[] {
  return [
    "sh",
    "-c",
    `echo "$1 $MINION_ATTEMPT" >> "$0"${tail}`,
    file,
  ];
}

async function lines(file: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(file)).split("\n").filter((l) => l);
  } catch {
    return [];
  }
}

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not seen after ${timeoutMs / 1000}s`);
}

/** Up to `count` payloads from `topic`, acked, within `timeoutMs`. */
async function readTopic(
  broker: RunningPulsar,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<{ text: string; properties: Record<string, string> }[]> {
  const client = new PulsarClient({ serviceUrl: broker.serviceUrl });
  const consumer = await Consumer.open(client, {
    topic: fullTopicName(topic),
    subscription: "test-reader",
    permits: 100,
  });
  const out = [];
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    while (out.length < count) {
      const received = await consumer.receive(signal);
      if (!received) break;
      out.push({
        text: new TextDecoder().decode(received.message.payload),
        properties: received.message.properties,
      });
      received.ack();
    }
  } finally {
    await consumer.close();
    await client.close();
  }
  return out;
}

async function python(args: string[], input = ""): Promise<string> {
  const child = new Deno.Command(PULSAR_PYTHON, {
    args: [PEER, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `python peer ${args[0]} exited ${out.code}: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return stdout;
}

Deno.test({
  name: "pulsar engine against a real Pulsar standalone broker",
  ignore: !ok,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const broker = await startPulsar();
    const dir = await Deno.makeTempDir({ prefix: "minionize-pulsar-" });
    try {
      await t.step(
        "--retries 2 runs a failing param 3 times, then dead-letters it",
        async () => {
          const topic = newTopic();
          await publish(broker, topic, ["doomed"]);
          const out = `${dir}/retries.txt`;
          const result = await minion(broker, { PULSAR_TOPIC: topic }, [
            "--retries",
            "2",
            "--idle-exit",
            "5",
            ...recorder(out, "; exit 3"),
          ]).output;
          assertEquals(result.code, 1, `exit code (${result.stderr})`);
          assertEquals(
            await lines(out),
            ["doomed 1", "doomed 2", "doomed 3"],
            "runs with attempts",
          );
          const dead = await readTopic(broker, `${topic}-minionize-DLQ`, 1);
          assertEquals(dead.map((m) => m.text), ["doomed"], "dead letters");
          assert(
            dead[0]!.properties.REAL_TOPIC === fullTopicName(topic),
            `REAL_TOPIC is ${dead[0]!.properties.REAL_TOPIC}`,
          );
        },
      );

      await t.step(
        "-j 1 holds one message, or PULSAR_PREFETCH of them",
        async () => {
          const held = async (settings: Record<string, string>) => {
            const topic = newTopic();
            await publish(broker, topic, ["a", "b", "c"]);
            const engine = await pulsarEngine.open({
              env: { ...broker.env, PULSAR_TOPIC: topic, ...settings },
              concurrency: 1,
              dryRun: false,
            });
            const got = [];
            try {
              // Nothing is settled: only what the permits let in arrives.
              for (let i = 0; i < 3; i++) {
                const delivery = await engine.next(AbortSignal.timeout(3_000));
                if (delivery === undefined) break;
                got.push(delivery.param);
              }
            } finally {
              await engine.close();
            }
            return got;
          };
          assertEquals(await held({}), ["a"], "-j 1 alone");
          assertEquals(
            await held({ PULSAR_PREFETCH: "3" }),
            ["a", "b", "c"],
            "with PULSAR_PREFETCH=3",
          );
        },
      );

      await t.step(
        "a param of a minion stopped by SIGTERM goes to another minion, uncounted",
        async () => {
          const topic = newTopic();
          await publish(broker, topic, ["slow"]);
          const started = `${dir}/term-started.txt`;
          const first = minion(broker, { PULSAR_TOPIC: topic }, [
            ...recorder(started, "; sleep 60"),
          ]);
          await waitFor(
            "first run",
            async () => (await lines(started)).length === 1,
          );
          first.child.kill("SIGTERM");
          const stopped = await first.output;
          assertEquals(stopped.code, 143, `first exit (${stopped.stderr})`);
          const out = `${dir}/term-done.txt`;
          const second = await minion(broker, { PULSAR_TOPIC: topic }, [
            "--idle-exit",
            "5",
            ...recorder(out),
          ]).output;
          assertEquals(second.code, 0, `second exit (${second.stderr})`);
          assertEquals(await lines(out), ["slow 1"], "second run");
        },
      );

      await t.step(
        "messages the Python client published, batched, compressed or not, are all run",
        async () => {
          const topic = newTopic();
          const batched = Array.from({ length: 30 }, (_, i) => `b${i}`);
          const single = Array.from({ length: 5 }, (_, i) => `s${i}`);
          // Long, repetitive params so that the codecs find matches.
          const compressed = ["zlib", "lz4", "zstd", "snappy"].map((codec) => ({
            codec,
            params: Array.from(
              { length: 5 },
              (_, i) => `${codec}${i}-${"repeat-".repeat(20)}`,
            ),
          }));
          await python(
            ["publish", broker.serviceUrl, topic, "batched"],
            batched.join("\n"),
          );
          await python(
            ["publish", broker.serviceUrl, topic, "single"],
            single.join("\n"),
          );
          for (const { codec, params } of compressed) {
            await python(
              ["publish", broker.serviceUrl, topic, codec],
              params.join("\n"),
            );
          }
          const out = `${dir}/interop.txt`;
          // b7 fails once: its batch neighbours must not run again.
          const result = await minion(broker, { PULSAR_TOPIC: topic }, [
            "-j",
            "3",
            "--retries",
            "1",
            "--idle-exit",
            "5",
            ...recorder(out, '; [ "$1" != b7 ] || [ "$MINION_ATTEMPT" -gt 1 ]'),
          ]).output;
          assertEquals(result.code, 0, `exit code (${result.stderr})`);
          const runs = (await lines(out)).map((l) => l.split(" ")[0]!);
          const expected = [
            ...batched,
            ...single,
            ...compressed.flatMap((c) => c.params),
            "b7",
          ].sort();
          assertEquals(runs.sort(), expected, "runs (b7 twice, others once)");
        },
      );

      await t.step(
        "a batch from the Python client is unpacked into its messages",
        async () => {
          const topic = newTopic();
          const sent = Array.from({ length: 10 }, (_, i) => `m${i}`);
          await python(
            ["publish", broker.serviceUrl, topic, "batched"],
            sent.join("\n"),
          );
          const client = new PulsarClient({ serviceUrl: broker.serviceUrl });
          const consumer = await Consumer.open(client, {
            topic: fullTopicName(topic),
            subscription: "batch-check",
            permits: 20,
          });
          const got: string[] = [];
          const indexes: number[] = [];
          try {
            const signal = AbortSignal.timeout(20_000);
            while (got.length < sent.length) {
              const received = await consumer.receive(signal);
              assert(received, `only ${got.length} messages arrived`);
              got.push(new TextDecoder().decode(received.message.payload));
              indexes.push(received.message.id.batch_index ?? -1);
              received.ack();
            }
          } finally {
            await consumer.close();
            await client.close();
          }
          assertEquals(got, sent, "payloads in order");
          assert(
            indexes.some((index) => index > 0),
            `no message came from a batch: ${indexes}`,
          );
        },
      );

      await t.step(
        "with PULSAR_BATCH_INDEX_ACK a killed minion's finished batch neighbours do not run again",
        async () => {
          const topic = newTopic();
          const sent = ["k0", "k1", "k2", "k3", "k4"];
          await python(
            ["publish", broker.serviceUrl, topic, "batched"],
            sent.join("\n"),
          );
          const env = { PULSAR_TOPIC: topic, PULSAR_BATCH_INDEX_ACK: "1" };
          const first = `${dir}/bia-first.txt`;
          const pidFile = `${dir}/bia.pid`;
          const running = minion(broker, env, [
            "-j",
            "5",
            "sh",
            "-c",
            `if [ "$1" = k2 ]; then echo $$ > ${pidFile}; exec sleep 60; fi; echo "$1" >> "$0"`,
            first,
          ]);
          await waitFor(
            "four runs and the slow one",
            async () =>
              (await lines(first)).length === 4 &&
              (await lines(pidFile)).length === 1,
          );
          Deno.kill(running.child.pid, "SIGKILL");
          await running.child.status;
          Deno.kill(Number((await lines(pidFile))[0]), "SIGKILL");
          await running.output;
          const second = `${dir}/bia-second.txt`;
          const result = await minion(broker, env, [
            "--idle-exit",
            "5",
            ...recorder(second),
          ]).output;
          assertEquals(result.code, 0, `second exit (${result.stderr})`);
          assertEquals(
            (await lines(second)).map((l) => l.split(" ")[0]),
            ["k2"],
            "runs on the second minion",
          );
        },
      );

      await t.step(
        "a partitioned topic is consumed on every partition",
        async () => {
          const topic = newTopic();
          const created = await fetch(
            `${broker.adminUrl}/admin/v2/persistent/public/default/${topic}/partitions`,
            {
              method: "PUT",
              headers: { "content-type": "application/json" },
              body: "3",
            },
          );
          await created.body?.cancel();
          assert(created.ok, `creating partitions: HTTP ${created.status}`);
          const params = Array.from({ length: 30 }, (_, i) => `q${i}`);
          await publish(broker, topic, params);
          const out = `${dir}/partitioned.txt`;
          const results = await Promise.all(
            [0, 1].map(() =>
              minion(broker, { PULSAR_TOPIC: topic }, [
                "-j",
                "2",
                "--idle-exit",
                "5",
                ...recorder(out),
              ]).output
            ),
          );
          for (const result of results) {
            assertEquals(result.code, 0, `minion exit (${result.stderr})`);
          }
          assertEquals(
            (await lines(out)).map((l) => l.split(" ")[0]).sort(),
            params.sort(),
            "runs",
          );
        },
      );

      await t.step(
        "a minion reconnects and resubscribes after the broker restarts",
        async () => {
          const topic = newTopic();
          await publish(broker, topic, ["before-1", "before-2"]);
          const out = `${dir}/restart.txt`;
          const running = minion(broker, { PULSAR_TOPIC: topic }, [
            "--idle-exit",
            "120",
            ...recorder(out),
          ]);
          await waitFor(
            "runs before",
            async () => (await lines(out)).length === 2,
          );
          await broker.restart();
          await publish(broker, topic, ["after-1", "after-2"]);
          await waitFor(
            "runs after",
            async () => (await lines(out)).length === 4,
            90_000,
          );
          running.child.kill("SIGTERM");
          const result = await running.output;
          assertEquals(result.code, 143, `minion exit (${result.stderr})`);
          assertEquals(
            (await lines(out)).map((l) => l.split(" ")[0]).sort(),
            ["after-1", "after-2", "before-1", "before-2"],
            "runs",
          );
        },
      );

      await t.step(
        "the bundled single file runs a pulsar job from an empty directory",
        async () => {
          const empty = await Deno.makeTempDir({ dir, prefix: "bundle-" });
          await buildBundle(`${empty}/minionize.js`);
          const topic = newTopic();
          await publish(broker, topic, ["u1", "u2"]);
          const out = `${dir}/bundled.txt`;
          const run = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "--quiet",
              "minionize.js",
              "--idle-exit",
              "3",
              ...recorder(out),
            ],
            cwd: empty,
            env: {
              ...broker.env,
              MINION_ENGINE: "pulsar",
              PULSAR_TOPIC: topic,
            },
            stdout: "piped",
            stderr: "piped",
          }).output();
          assertEquals(
            run.code,
            0,
            `bundled minion exit (${new TextDecoder().decode(run.stderr)})`,
          );
          assertEquals((await lines(out)).sort(), ["u1 1", "u2 1"], "runs");
        },
      );

      await t.step(
        "what minionize publishes, the Python client reads",
        async () => {
          const topic = newTopic();
          const params = ["x", "y z", "ünïcode"];
          await publish(broker, topic, params);
          const read = await python([
            "consume",
            broker.serviceUrl,
            topic,
            "python-reader",
            String(params.length),
          ]);
          assertEquals(read.split("\n").filter((l) => l), params, "read");
        },
      );
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function _base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(
    /\//g,
    "_",
  ).replace(/=+$/, "");
}

/** An HS256 JWT for `subject`, as `pulsar tokens create` makes them. */
async function _token(
  secret: Uint8Array<ArrayBuffer>,
  subject: string,
): Promise<string> {
  const encode = (value: unknown) =>
    _base64url(new TextEncoder().encode(JSON.stringify(value)));
  const unsigned = `${encode({ alg: "HS256" })}.${encode({ sub: subject })}`;
  const key = await crypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(unsigned),
  );
  return `${unsigned}.${_base64url(new Uint8Array(signature))}`;
}

Deno.test({
  name: "pulsar engine speaks TLS and token authentication to a secured broker",
  ignore: !ok || !available("openssl", "apt-get install -y openssl"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "minionize-pulsar-tls-" });
    // A CA and a server certificate it signed (rustls refuses a
    // self-signed certificate as the server's own).
    const made = await new Deno.Command("sh", {
      args: [
        "-c",
        `set -e
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
          -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
          -keyout key.pem -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
          -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem`,
      ],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert(made.success, new TextDecoder().decode(made.stderr));
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const admin = await _token(secret, "admin");
    const user = await _token(secret, "minion");
    const broker = await startPulsar({
      tls: true,
      adminToken: admin,
      conf: {
        authenticationEnabled: "true",
        authenticationProviders:
          "org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
        tokenSecretKey: `data:;base64,${btoa(String.fromCharCode(...secret))}`,
        superUserRoles: "admin",
        brokerClientAuthenticationPlugin:
          "org.apache.pulsar.client.impl.auth.AuthenticationToken",
        brokerClientAuthenticationParameters: `token:${admin}`,
        tlsCertificateFilePath: `${dir}/cert.pem`,
        tlsKeyFilePath: `${dir}/key.pem`,
        tlsTrustCertsFilePath: `${dir}/ca.pem`,
      },
    });
    try {
      const topic = newTopic();
      const env = {
        PULSAR_CONNECTION: broker.tlsServiceUrl!,
        PULSAR_TLS_TRUST_CERTS: `${dir}/ca.pem`,
        PULSAR_TOKEN: user,
        PULSAR_TOPIC: topic,
      };
      await publish(broker, topic, ["secure-1", "secure-2"], env);
      const out = `${dir}/runs.txt`;
      const result = await cliCommand([
        "--idle-exit",
        "3",
        ...recorder(out),
      ], { env: { MINION_ENGINE: "pulsar", ...env } }).output();
      assertEquals(
        result.code,
        0,
        `minion exit (${new TextDecoder().decode(result.stderr)})`,
      );
      assertEquals(
        (await lines(out)).sort(),
        ["secure-1 1", "secure-2 1"],
        "runs",
      );
      const refused = await cliCommand(["--idle-exit", "3", "true"], {
        env: {
          MINION_ENGINE: "pulsar",
          ...env,
          PULSAR_TOKEN: await _token(new Uint8Array(32), "intruder"),
        },
      }).output();
      const stderr = new TextDecoder().decode(refused.stderr);
      // A refused token is a setting to fix, as an unreachable broker is.
      assertEquals(refused.code, 2, `refused exit (${stderr})`);
      assert(
        /^minionize: error: Cannot connect to Pulsar at pulsar\+ssl:\/\/127\.0\.0\.1:\d+: .+/
          .test(stderr),
        `error line: ${stderr}`,
      );
    } finally {
      await broker.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
