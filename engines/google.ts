/**
 * Engine `google`: Google Cloud Pub/Sub, or any server speaking its gRPC API
 * (the emulator, Google's `pstest` fake) when `PUBSUB_EMULATOR_HOST` is set.
 *
 * Messages are taken with unary `Pull` calls, one message per free slot of
 * the minion (see `google_queue.ts`), so a minion holds at most `-j`
 * messages. While a task runs its ack deadline is
 * pushed back every third of the subscription's deadline, with no upper
 * limit, so a task of hours is not handed to another minion while this one
 * lives; a killed minion's messages come back one deadline later.
 *
 * Retries: when the subscription has a dead-letter policy the server counts
 * delivery attempts, so a failed task is given back at once (ack deadline
 * 0) and `--retries` reads the server's count; a task that fails for good
 * is published to the dead-letter topic with its error, then acknowledged.
 * Without a policy the server does not count, so a failed task is retried
 * in place and, once out of retries, acknowledged (the minion's report
 * records it failed).
 *
 * Settings: `GOOGLE_PROJECT_ID`, `GOOGLE_SUBSCRIPTION` (to consume),
 * `GOOGLE_TOPIC_ID` (to publish), `GOOGLE_APPLICATION_CREDENTIALS` (a
 * service account key file; when unset, credentials are found as Google's
 * own client finds them: `gcloud auth application-default login`'s file,
 * then the metadata server of a VM, a GKE pod with workload identity or
 * Cloud Run; not needed with an emulator), `GOOGLE_DECODER` (`identity`,
 * the default, or `json`) and `PUBSUB_EMULATOR_HOST`.
 *
 * @module
 */

import "../core/cjs_globals.ts"; // first: the client reads them as it loads
import { Buffer } from "node:buffer";
import { type protos, PubSub, v1 } from "npm:@google-cloud/pubsub@6.3.0";
import { CODE, firstLine, GoogleQueue, grpcCode } from "./google_queue.ts";
import type {
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice, readRequired } from "../core/env.ts";
import { ConfigError } from "../core/errors.ts";
import {
  type Decoder,
  decoderLineFormat,
  DECODERS,
  encode,
} from "../core/param.ts";

/** How long the calls made while opening may take before we say why not. */
const CHECK_TIMEOUT_MS = 10_000;

interface GoogleSettings {
  projectId: string;
  decoder: Decoder;
  emulator: string | undefined;
  credentials: string | undefined;
}

function where(settings: GoogleSettings): string {
  return settings.emulator === undefined
    ? "Google Pub/Sub"
    : `the Pub/Sub emulator at ${settings.emulator} (PUBSUB_EMULATOR_HOST)`;
}

/** A resource name, whether given as an id or as a full path. */
function resource(
  projectId: string,
  kind: "topics" | "subscriptions",
  id: string,
): string {
  return id.startsWith("projects/")
    ? id
    : `projects/${projectId}/${kind}/${id}`;
}

async function readSettings(env: Env): Promise<GoogleSettings> {
  const projectId = readRequired(
    env,
    "GOOGLE_PROJECT_ID",
    "set it to the Google Cloud project holding the topic, e.g. GOOGLE_PROJECT_ID=my-project",
  );
  const decoder = readChoice(env, "GOOGLE_DECODER", DECODERS, "identity");
  const emulator = env.PUBSUB_EMULATOR_HOST?.trim() || undefined;
  if (emulator !== undefined) {
    return { projectId, decoder, emulator, credentials: undefined };
  }
  const credentials = env.GOOGLE_APPLICATION_CREDENTIALS?.trim() || undefined;
  // Unset, Google's client looks for credentials itself (see findCredentials).
  if (credentials === undefined) {
    return { projectId, decoder, emulator, credentials };
  }
  try {
    if (!(await Deno.stat(credentials)).isFile) {
      throw new Error("it is not a regular file");
    }
  } catch (error) {
    throw new ConfigError(
      "GOOGLE_APPLICATION_CREDENTIALS",
      `Cannot read GOOGLE_APPLICATION_CREDENTIALS '${credentials}': ${
        firstLine(error)
      }; give the path of a service account's JSON key file`,
      { cause: error },
    );
  }
  return { projectId, decoder, emulator, credentials };
}

function client(settings: GoogleSettings): PubSub {
  return new PubSub({
    projectId: settings.projectId,
    ...(settings.emulator === undefined
      ? settings.credentials === undefined
        ? {}
        : { keyFilename: settings.credentials }
      : {
        apiEndpoint: settings.emulator,
        emulatorMode: true,
        // Stated so that the client does not look for a metadata server
        // (seconds of timeouts off Google Cloud) just to learn it.
        universeDomain: "googleapis.com",
      }),
  });
}

/** What Google's client says when it found no credentials at all. */
const NO_CREDENTIALS = /Could not load the default credentials/;

/**
 * Finds credentials the way Google's own client does when
 * `GOOGLE_APPLICATION_CREDENTIALS` is unset (Application Default
 * Credentials): the file `gcloud auth application-default login` writes
 * (under `CLOUDSDK_CONFIG`, else `~/.config/gcloud`), then the metadata
 * server of a Compute Engine VM, a GKE pod with workload identity or Cloud
 * Run (`GCE_METADATA_HOST` moves it; `METADATA_SERVER_DETECTION=none` skips
 * it). Nothing to do with a key file or an emulator.
 *
 * Needs `--allow-env`, `--allow-read` and, for the metadata server,
 * `--allow-net`.
 *
 * @param pubsub the client that will use them
 * @param settings whether a key file or an emulator is set
 * @throws {ConfigError} in one line when none are found or they cannot be read
 */
export async function findCredentials(
  pubsub: PubSub,
  settings: { emulator: string | undefined; credentials: string | undefined },
): Promise<void> {
  if (settings.emulator !== undefined || settings.credentials !== undefined) {
    return;
  }
  try {
    await pubsub.auth.getClient();
  } catch (error) {
    throw new ConfigError(
      "GOOGLE_APPLICATION_CREDENTIALS",
      NO_CREDENTIALS.test(firstLine(error))
        ? "Cannot find Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud application-default login and no metadata server answered; set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file, run 'gcloud auth application-default login', run on Google Cloud (a VM, or a GKE pod with workload identity), or set PUBSUB_EMULATOR_HOST for an emulator"
        : `Cannot load Google credentials: ${
          firstLine(error)
        }; fix the gcloud application-default file, or set GOOGLE_APPLICATION_CREDENTIALS to a service account's JSON key file`,
      { cause: error },
    );
  }
}

/**
 * Turns a failed call made while opening into an error that says what to
 * fix, or returns undefined when the call is merely not allowed.
 */
function explain(
  error: unknown,
  settings: GoogleSettings,
  variable: string,
  name: string,
  fix: string,
): Error | undefined {
  switch (grpcCode(error)) {
    case CODE.PERMISSION_DENIED:
      return undefined;
    case CODE.NOT_FOUND:
      return new ConfigError(
        variable,
        `Cannot use ${variable}: '${name}' does not exist on ${
          where(settings)
        }; ${fix}`,
        { cause: error },
      );
    case CODE.INVALID_ARGUMENT:
      return new ConfigError(
        variable,
        `Cannot use ${variable}: '${name}' is refused by ${where(settings)} (${
          firstLine(error)
        }); check GOOGLE_PROJECT_ID and ${variable}`,
        { cause: error },
      );
    case CODE.UNAUTHENTICATED:
      return new ConfigError(
        "GOOGLE_APPLICATION_CREDENTIALS",
        `Cannot log in to ${where(settings)}: ${firstLine(error)}; check ${
          settings.credentials === undefined
            ? "the credentials found for this host (or set GOOGLE_APPLICATION_CREDENTIALS to a key file)"
            : "the key file in GOOGLE_APPLICATION_CREDENTIALS"
        }`,
        { cause: error },
      );
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      // A setting to fix before anything is taken (exit 2), as an
      // unreachable server is for every other engine.
      return new ConfigError(
        settings.emulator === undefined
          ? "GOOGLE_APPLICATION_CREDENTIALS"
          : "PUBSUB_EMULATOR_HOST",
        `Cannot reach ${where(settings)}: ${firstLine(error)}; check that ${
          settings.emulator === undefined
            ? "this host can reach pubsub.googleapis.com"
            : "the emulator runs there"
        }`,
        { cause: error },
      );
    default:
      return new Error(
        `Cannot open ${name} on ${where(settings)}: ${firstLine(error)}`,
        { cause: error },
      );
  }
}
/** Opens `GOOGLE_SUBSCRIPTION` as a queue. */
async function open(options: EngineOptions): Promise<Engine> {
  const settings = await readSettings(options.env);
  const subscription = resource(
    settings.projectId,
    "subscriptions",
    readRequired(
      options.env,
      "GOOGLE_SUBSCRIPTION",
      "set it to the subscription minions pull from, e.g. GOOGLE_SUBSCRIPTION=my-subscription",
    ),
  );
  const pubsub = client(settings);
  try {
    await findCredentials(pubsub, settings);
  } catch (error) {
    await pubsub.close();
    throw error;
  }
  const subscriber = new v1.SubscriberClient(
    await pubsub.getClientConfig() as ConstructorParameters<
      typeof v1.SubscriberClient
    >[0],
  );
  let metadata: protos.google.pubsub.v1.ISubscription | undefined;
  try {
    [metadata] = await subscriber.getSubscription({ subscription }, {
      timeout: CHECK_TIMEOUT_MS,
    });
  } catch (error) {
    // A subscriber role may not read the subscription's settings: then the
    // defaults below apply and the first pull tells whether it exists.
    const why = explain(
      error,
      settings,
      "GOOGLE_SUBSCRIPTION",
      subscription,
      "create it (e.g. minionize publish --engine google --create) or fix the name",
    );
    if (why) {
      await Promise.allSettled([subscriber.close(), pubsub.close()]);
      throw why;
    }
  }
  return new GoogleQueue(pubsub, subscriber, {
    subscription,
    decoder: settings.decoder,
    deadlineSeconds: metadata?.ackDeadlineSeconds || 10,
    deadLetterTopic: metadata?.deadLetterPolicy?.deadLetterTopic || undefined,
    dryRun: options.dryRun,
  });
}
/**
 * Publishes params to `GOOGLE_TOPIC_ID`, encoded for `GOOGLE_DECODER`;
 * with `create`, first creates the topic and `GOOGLE_SUBSCRIPTION` (when
 * set) if they do not exist.
 */
async function publish(
  params: AsyncIterable<JsonValue>,
  options: PublishOptions,
): Promise<number> {
  const settings = await readSettings(options.env);
  const topicName = resource(
    settings.projectId,
    "topics",
    readRequired(
      options.env,
      "GOOGLE_TOPIC_ID",
      "set it to the topic to publish to, e.g. GOOGLE_TOPIC_ID=my-topic",
    ),
  );
  const subscriptionId = options.env.GOOGLE_SUBSCRIPTION?.trim() || undefined;
  const pubsub = client(settings);
  try {
    await findCredentials(pubsub, settings);
    const topic = pubsub.topic(topicName, {
      batching: { maxMessages: 500, maxMilliseconds: 20 },
    });
    const gaxOpts = { timeout: CHECK_TIMEOUT_MS };
    const fail = (error: unknown, variable: string, name: string) =>
      explain(
        error,
        settings,
        variable,
        name,
        "create it with --create, or fix the name",
      );
    if (options.create) {
      try {
        await topic.create(gaxOpts);
      } catch (error) {
        if (grpcCode(error) !== CODE.ALREADY_EXISTS) {
          throw fail(error, "GOOGLE_TOPIC_ID", topicName) ?? error;
        }
      }
      if (subscriptionId !== undefined) {
        const name = resource(
          settings.projectId,
          "subscriptions",
          subscriptionId,
        );
        try {
          await topic.createSubscription(name, { gaxOpts });
        } catch (error) {
          if (grpcCode(error) !== CODE.ALREADY_EXISTS) {
            throw fail(error, "GOOGLE_SUBSCRIPTION", name) ?? error;
          }
        }
      }
    } else {
      try {
        await topic.getMetadata(gaxOpts);
      } catch (error) {
        const why = fail(error, "GOOGLE_TOPIC_ID", topicName);
        if (why) throw why; // a publisher role may not read the topic
      }
    }
    let count = 0;
    let pending: Promise<string>[] = [];
    for await (const param of params) {
      pending.push(
        topic.publishMessage({
          data: Buffer.from(encode(param, settings.decoder)),
        }),
      );
      count++;
      if (pending.length >= 1000) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    return count;
  } finally {
    await pubsub.close();
  }
}

/** The `google` engine plug-in. */
export const googleEngine: EnginePlugin = {
  open,
  publish,
  lineFormat: decoderLineFormat("GOOGLE_DECODER"),
};
