import { PubSub } from "@google-cloud/pubsub";
import { findCredentials, googleEngine } from "../../engines/google.ts";
import { runCli } from "../_cli.ts";
import type { Engine, Env, JsonValue } from "../../core/contracts.ts";
import { ConfigError } from "../../core/errors.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { buildBundle } from "../_bundle.ts";
import { freePort } from "../services/harness.ts";
import {
  createQueue,
  pstestAvailable,
  type Queue,
  type QueueOptions,
  startPstest,
} from "../services/pstest.ts";

const ok = pstestAvailable();

async function* list(values: JsonValue[]): AsyncIterable<JsonValue> {
  yield* values;
}

const forever = () => new AbortController().signal;

/** Runs `body` with a fresh queue on a pstest started for the test. */
function withQueue(
  options: QueueOptions,
  body: (queue: Queue) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const service = await startPstest();
    const queue = await createQueue(service, "engine", options);
    try {
      await body(queue);
    } finally {
      await queue.close();
      await service.stop();
    }
  };
}

function openWith(env: Env, dryRun = false): Promise<Engine> {
  return googleEngine.open({ env, concurrency: 1, dryRun });
}

/** Runs `body` with process variables set (Google's client reads them there). */
async function withVariables(
  variables: Record<string, string | undefined>,
  body: () => Promise<void>,
): Promise<void> {
  const before = Object.fromEntries(
    Object.keys(variables).map((name) => [name, Deno.env.get(name)]),
  );
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  };
  apply(variables);
  try {
    await body();
  } finally {
    apply(before);
  }
}

Deno.test("without GOOGLE_APPLICATION_CREDENTIALS or credentials anywhere, the minion says so in one line", async () => {
  const home = await Deno.makeTempDir();
  const result = await runCli(["--engine", "google", "echo"], {
    cwd: home,
    env: {
      GOOGLE_PROJECT_ID: "p",
      GOOGLE_SUBSCRIPTION: "s",
      HOME: home,
      CLOUDSDK_CONFIG: `${home}/gcloud`,
      // Never look for a metadata server from a test machine.
      METADATA_SERVER_DETECTION: "none",
    },
  });
  assertEquals(result.code, 2);
  assertEquals(
    result.stderr,
    "minionize: error: Cannot find Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud application-default login and no metadata server answered; set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file, run 'gcloud auth application-default login', run on Google Cloud (a VM, or a GKE pod with workload identity), or set PUBSUB_EMULATOR_HOST for an emulator\n",
  );
});

Deno.test("credentials are found in gcloud's application-default file, as Google's client finds them", async () => {
  const config = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${config}/application_default_credentials.json`,
    JSON.stringify({
      type: "authorized_user",
      client_id: "id.apps.googleusercontent.com",
      client_secret: "secret",
      refresh_token: "token",
    }),
  );
  await withVariables({
    CLOUDSDK_CONFIG: config,
    GOOGLE_APPLICATION_CREDENTIALS: undefined,
    METADATA_SERVER_DETECTION: "none",
  }, async () => {
    const pubsub = new PubSub({ projectId: "p" });
    try {
      await findCredentials(pubsub, {
        emulator: undefined,
        credentials: undefined,
      });
      const found = await pubsub.auth.getClient();
      assertEquals(found.constructor.name, "UserRefreshClient");
    } finally {
      await pubsub.close();
    }
  });
});

Deno.test("credentials are found on a metadata server (a VM, a GKE pod with workload identity)", async () => {
  const config = await Deno.makeTempDir();
  let asked = 0;
  // Google's metadata server, as a Compute Engine VM or a GKE node serves
  // it; loopback only, moved there with GCE_METADATA_HOST.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      asked++;
      const google = request.headers.get("Metadata-Flavor") === "Google";
      return new Response(google ? "{}" : "forbidden", {
        status: google ? 200 : 403,
        headers: { "Metadata-Flavor": "Google" },
      });
    },
  );
  try {
    await withVariables({
      CLOUDSDK_CONFIG: config,
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
      METADATA_SERVER_DETECTION: "ping-only",
      GCE_METADATA_HOST: `127.0.0.1:${server.addr.port}`,
    }, async () => {
      const pubsub = new PubSub({ projectId: "p" });
      try {
        await findCredentials(pubsub, {
          emulator: undefined,
          credentials: undefined,
        });
        const found = await pubsub.auth.getClient();
        assertEquals(found.constructor.name, "Compute");
      } finally {
        await pubsub.close();
      }
    });
    assert(asked > 0, "the metadata server was asked");
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  name: "an emulator needs no credentials, even where none can be found",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    const home = await Deno.makeTempDir();
    const result = await runCli(["--engine", "google", "--dry-run", "echo"], {
      cwd: home,
      env: {
        ...queue.env,
        GOOGLE_APPLICATION_CREDENTIALS: "",
        HOME: home,
        CLOUDSDK_CONFIG: `${home}/gcloud`,
        METADATA_SERVER_DETECTION: "none",
        MINION_IDLE_EXIT: "0.5",
      },
    });
    assertEquals([result.code, result.stderr], [0, ""]);
  }),
});

Deno.test("google engine names each missing variable", async () => {
  const cases: [Env, string][] = [
    [{ PUBSUB_EMULATOR_HOST: "127.0.0.1:1" }, "GOOGLE_PROJECT_ID"],
    [
      { PUBSUB_EMULATOR_HOST: "127.0.0.1:1", GOOGLE_PROJECT_ID: "p" },
      "GOOGLE_SUBSCRIPTION",
    ],
    [
      {
        GOOGLE_PROJECT_ID: "p",
        GOOGLE_SUBSCRIPTION: "s",
        GOOGLE_APPLICATION_CREDENTIALS: "/nonexistent/key.json",
      },
      "GOOGLE_APPLICATION_CREDENTIALS",
    ],
    [
      {
        PUBSUB_EMULATOR_HOST: "127.0.0.1:1",
        GOOGLE_PROJECT_ID: "p",
        GOOGLE_SUBSCRIPTION: "s",
        GOOGLE_DECODER: "pickle",
      },
      "GOOGLE_DECODER",
    ],
  ];
  for (const [env, variable] of cases) {
    const error = await assertRejects(
      () => openWith(env),
      ConfigError,
      variable,
    );
    assertEquals((error as ConfigError).variable, variable);
  }
  await assertRejects(
    () =>
      googleEngine.publish!(list([]), {
        env: { PUBSUB_EMULATOR_HOST: "127.0.0.1:1", GOOGLE_PROJECT_ID: "p" },
        create: false,
      }),
    ConfigError,
    "GOOGLE_TOPIC_ID is not set",
  );
});

Deno.test({
  name: "google engine says so when the server cannot be reached",
  ignore: !ok,
  async fn() {
    const host = `127.0.0.1:${freePort()}`;
    await assertRejects(
      () =>
        openWith({
          PUBSUB_EMULATOR_HOST: host,
          GOOGLE_PROJECT_ID: "p",
          GOOGLE_SUBSCRIPTION: "s",
        }),
      // A setting to fix (exit 2), as for every other engine.
      ConfigError,
      `Cannot reach the Pub/Sub emulator at ${host}`,
    );
  },
});

Deno.test({
  name: "google engine refuses a subscription that does not exist",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    const error = await assertRejects(
      () => openWith({ ...queue.env, GOOGLE_SUBSCRIPTION: "nope" }),
      ConfigError,
      "'projects/minionize-test/subscriptions/nope' does not exist",
    );
    assertEquals((error as ConfigError).variable, "GOOGLE_SUBSCRIPTION");
  }),
});

Deno.test({
  name: "google engine round-trips text and JSON params and acks them away",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    for (const decoder of ["identity", "json"]) {
      const env = { ...queue.env, GOOGLE_DECODER: decoder };
      const params: JsonValue[] = decoder === "json"
        ? [{ a: 1 }, "x y", [1, 2]]
        : ["--n 1", "hé llo"];
      const count = await googleEngine.publish!(list(params), {
        env,
        create: false,
      });
      assertEquals(count, params.length);
      const engine = await openWith(env);
      const seen: JsonValue[] = [];
      for (let i = 0; i < params.length; i++) {
        const delivery = await engine.next(forever());
        assert(delivery, "a delivery");
        assertEquals(delivery.attempt, 1);
        assert(delivery.malformed === undefined, "well formed");
        seen.push(delivery.param);
        await delivery.ack();
      }
      await engine.close();
      const sort = (v: JsonValue[]) => v.map((p) => JSON.stringify(p)).sort();
      assertEquals(sort(seen), sort(params));
      assertEquals(await queue.drain(), []);
    }
  }),
});

Deno.test({
  name: "google engine reports a message that is not JSON as malformed",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    await googleEngine.publish!(list(["not json"]), {
      env: queue.env,
      create: false,
    });
    const engine = await openWith({ ...queue.env, GOOGLE_DECODER: "json" });
    const delivery = await engine.next(forever());
    const reason = delivery?.malformed;
    assert(delivery && reason?.includes("not JSON"), "malformed");
    assertEquals(delivery.param, "not json");
    await delivery.fail(reason ?? "");
    await engine.close();
    assertEquals(await queue.drain(), []);
  }),
});

Deno.test({
  name: "google engine keeps a running task's message past its ack deadline",
  ignore: !ok,
  fn: withQueue({ ackDeadlineSeconds: 2 }, async (queue) => {
    await googleEngine.publish!(list(["long"]), {
      env: queue.env,
      create: false,
    });
    const holder = await openWith(queue.env);
    const other = await openWith(queue.env);
    assertEquals(holder.renewEveryMs, 2000 / 3);
    const delivery = await holder.next(forever());
    assert(delivery?.renew, "renewable");
    // Three deadlines pass while the holder renews; the other minion waits.
    const renewer = setInterval(() => delivery.renew!(), holder.renewEveryMs);
    const stolen = await other.next(AbortSignal.timeout(6_000));
    clearInterval(renewer);
    assertEquals(stolen?.param, undefined);
    await delivery.ack();
    await Promise.all([holder.close(), other.close()]);
  }),
});

Deno.test({
  name: "google engine gives a dead minion's message back after the deadline",
  ignore: !ok,
  fn: withQueue({ ackDeadlineSeconds: 2 }, async (queue) => {
    await googleEngine.publish!(list(["orphan"]), {
      env: queue.env,
      create: false,
    });
    const dead = await openWith(queue.env);
    assert(await dead.next(forever()), "first delivery");
    // `dead` never settles nor closes: it stands for a killed minion.
    const live = await openWith(queue.env);
    const delivery = await live.next(AbortSignal.timeout(15_000));
    assertEquals(delivery?.param, "orphan");
    await delivery!.ack();
    await live.close();
  }),
});

Deno.test({
  name: "google engine without a dead-letter policy retries in place",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    const engine = await openWith(queue.env);
    assertEquals(engine.redelivers, false);
    await googleEngine.publish!(list(["bad"]), {
      env: queue.env,
      create: false,
    });
    const delivery = await engine.next(forever());
    await delivery!.fail("exit 1");
    await engine.close();
    assertEquals(await queue.drain(), []);
  }),
});

Deno.test({
  name: "google engine counts attempts and dead-letters under a policy",
  ignore: !ok,
  fn: withQueue({ maxDeliveryAttempts: 5 }, async (queue) => {
    const engine = await openWith(queue.env);
    assertEquals(engine.redelivers, true);
    await googleEngine.publish!(list(["bad"]), {
      env: queue.env,
      create: false,
    });
    const first = await engine.next(forever());
    assertEquals(first?.attempt, 1);
    await first!.nack();
    // nack gives it back at once: well within the 10 s deadline.
    const second = await engine.next(AbortSignal.timeout(5_000));
    assertEquals(second?.attempt, 2);
    await second!.fail("exit 3");
    await engine.close();
    assertEquals(await queue.drain(), []);
    assertEquals(await queue.drainDeadLetters(), ["bad"]);
  }),
});

Deno.test({
  name: "google engine gives back a message whose pull an abort left behind",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    const engine = await openWith(queue.env);
    const stop = new AbortController();
    const waiting = engine.next(stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop.abort();
    assertEquals(await waiting, undefined);
    // Published after the abort: the pull still in flight may take it, and
    // must give it back at once rather than hold it for 10 s.
    await googleEngine.publish!(list(["late"]), {
      env: queue.env,
      create: false,
    });
    // pstest answers an empty pull after 500 ms: by then it took "late".
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const other = await openWith(queue.env);
    const delivery = await other.next(AbortSignal.timeout(5_000));
    assertEquals(delivery?.param, "late");
    await delivery!.ack();
    await Promise.all([engine.close(), other.close()]);
  }),
});

Deno.test({
  name: "google engine gives back what it still holds when closed",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    await googleEngine.publish!(list(["held"]), {
      env: queue.env,
      create: false,
    });
    const engine = await openWith(queue.env);
    assert(await engine.next(forever()), "delivery");
    await engine.close();
    const other = await openWith(queue.env);
    const delivery = await other.next(AbortSignal.timeout(5_000));
    assertEquals(delivery?.param, "held");
    await delivery!.ack();
    await other.close();
  }),
});

Deno.test({
  name: "google engine in a dry run shows each message once and takes none",
  ignore: !ok,
  fn: withQueue({}, async (queue) => {
    const params = ["a", "b", "c"];
    await googleEngine.publish!(list(params), {
      env: queue.env,
      create: false,
    });
    const engine = await openWith(queue.env, true);
    const seen: JsonValue[] = [];
    while (true) {
      const delivery = await engine.next(AbortSignal.timeout(10_000));
      if (!delivery) break;
      seen.push(delivery.param);
      await delivery.release();
    }
    await engine.close();
    assertEquals(seen.sort(), params);
    assertEquals((await queue.drain()).sort(), params);
  }),
});

Deno.test({
  name: "the bundled single file publishes to and drains Pub/Sub",
  ignore: !ok,
  async fn() {
    const build = await Deno.makeTempDir();
    await buildBundle(`${build}/minionize.js`);
    const service = await startPstest();
    try {
      const env = {
        ...service.env,
        GOOGLE_TOPIC_ID: "t",
        GOOGLE_SUBSCRIPTION: "s",
        NO_COLOR: "1",
      };
      const run = async (args: string[], stdin = "") => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", `${build}/minionize.js`, ...args],
          cwd: build,
          env,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const writer = child.stdin.getWriter();
        await writer.write(new TextEncoder().encode(stdin));
        await writer.close();
        const output = await child.output();
        const decoder = new TextDecoder();
        return [
          output.code,
          decoder.decode(output.stdout),
          decoder.decode(output.stderr),
        ];
      };
      assertEquals(
        await run(["publish", "--engine", "google", "--create"], "a\n"),
        [
          0,
          "",
          "minionize: published 1 param (engine google)\n",
        ],
      );
      assertEquals(
        await run(["--engine", "google", "--idle-exit", "2", "echo", "hi"]),
        [0, "hi a\n", ""],
      );
    } finally {
      await service.stop();
      await Deno.remove(build, { recursive: true });
    }
  },
});
