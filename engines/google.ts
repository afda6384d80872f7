/**
 * Engine `google`: Google Cloud Pub/Sub, or any server speaking its gRPC API
 * (the emulator, Google's `pstest` fake) when `PUBSUB_EMULATOR_HOST` is set.
 *
 * Messages are taken with unary `Pull` calls, one message per free slot of
 * the minion, never more: nothing sits in a client-side buffer where it
 * would wait out its ack deadline, so the `-j` limit is the flow control and
 * a minion holds at most `-j` messages. While a task runs its ack deadline is
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
 * service account key file; not needed with an emulator),
 * `GOOGLE_DECODER` (`identity`, the default, or `json`) and
 * `PUBSUB_EMULATOR_HOST`.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type protos, PubSub, type Topic, v1 } from "@google-cloud/pubsub";
import type {
  Delivery,
  Engine,
  EngineOptions,
  EnginePlugin,
  Env,
  JsonValue,
  PublishOptions,
} from "../core/contracts.ts";
import { readChoice, readRequired } from "../core/config.ts";
import { ConfigError } from "../core/errors.ts";
import { decode, type Decoder, DECODERS, encode } from "../core/param.ts";

type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

/** gRPC status codes the engine tells apart. */
const CODE = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
  INVALID_ARGUMENT: 3,
} as const;

/** Codes after which a pull is worth trying again. */
const TRANSIENT = new Set([2, 4, 8, 10, 13, 14]);

/** How long the calls made while opening may take before we say why not. */
const CHECK_TIMEOUT_MS = 10_000;
/** One pull's limit: also how long `close` may wait for one in flight. */
const PULL_TIMEOUT_MS = 20_000;
/** Give up pulling after failing this long in a row (the library's own). */
const PULL_GIVE_UP_MS = 600_000;
/** How long a dry run holds what it has shown, so it is not shown twice. */
const DRY_HOLD_SECONDS = 600;
/** Pub/Sub's limit on the length of one attribute value. */
const ATTRIBUTE_MAX = 1024;

interface GoogleSettings {
  projectId: string;
  decoder: Decoder;
  emulator: string | undefined;
  credentials: string | undefined;
}

function code(error: unknown): number | undefined {
  const value = (error as { code?: unknown } | null)?.code;
  return typeof value === "number" ? value : undefined;
}

function message(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!;
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
  const credentials = readRequired(
    env,
    "GOOGLE_APPLICATION_CREDENTIALS",
    "set it to the JSON key file of a service account allowed to use the subscription (or set PUBSUB_EMULATOR_HOST to use an emulator)",
  );
  try {
    if (!(await Deno.stat(credentials)).isFile) {
      throw new Error("it is not a regular file");
    }
  } catch (error) {
    throw new ConfigError(
      "GOOGLE_APPLICATION_CREDENTIALS",
      `Cannot read GOOGLE_APPLICATION_CREDENTIALS '${credentials}': ${
        message(error)
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
      ? { keyFilename: settings.credentials! }
      : {
        apiEndpoint: settings.emulator,
        emulatorMode: true,
        // Stated so that the client does not look for a metadata server
        // (seconds of timeouts off Google Cloud) just to learn it.
        universeDomain: "googleapis.com",
      }),
  });
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
  switch (code(error)) {
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
          message(error)
        }); check GOOGLE_PROJECT_ID and ${variable}`,
        { cause: error },
      );
    case CODE.UNAUTHENTICATED:
      return new ConfigError(
        "GOOGLE_APPLICATION_CREDENTIALS",
        `Cannot log in to ${where(settings)}: ${
          message(error)
        }; check the key file in GOOGLE_APPLICATION_CREDENTIALS`,
        { cause: error },
      );
    case CODE.UNAVAILABLE:
    case CODE.DEADLINE_EXCEEDED:
      return new Error(
        `Cannot reach ${where(settings)}: ${message(error)}; check that ${
          settings.emulator === undefined
            ? "this host can reach pubsub.googleapis.com"
            : "the emulator runs there"
        }`,
        { cause: error },
      );
    default:
      return new Error(
        `Cannot open ${name} on ${where(settings)}: ${message(error)}`,
        { cause: error },
      );
  }
}

function text(received: ReceivedMessage): string {
  const data = received.message?.data;
  if (data === undefined || data === null) return "";
  return typeof data === "string"
    ? Buffer.from(data, "base64").toString("utf8")
    : new TextDecoder().decode(data);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
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

interface QueueOptions {
  subscription: string;
  decoder: Decoder;
  deadlineSeconds: number;
  deadLetterTopic: string | undefined;
  dryRun: boolean;
}

type PullResult = { messages: ReceivedMessage[] } | { error: unknown };

class GoogleQueue implements Engine {
  readonly name = "google";
  readonly redelivers: boolean;
  readonly renewEveryMs: number;
  readonly #pubsub: PubSub;
  readonly #subscriber: v1.SubscriberClient;
  readonly #options: QueueOptions;
  /** Messages handed out and not settled yet, by ack id. */
  readonly #held = new Map<string, ReceivedMessage>();
  /** Pulls an abort left behind; their messages are given back on arrival. */
  readonly #orphans = new Set<Promise<void>>();
  /** Dry run: messages received, not yet handed out. */
  #buffer: ReceivedMessage[] = [];
  /** Dry run: ids already shown. */
  readonly #shown = new Set<string>();
  #closed = false;
  #deadLetter: Topic | undefined;

  constructor(
    pubsub: PubSub,
    subscriber: v1.SubscriberClient,
    options: QueueOptions,
  ) {
    this.#pubsub = pubsub;
    this.#subscriber = subscriber;
    this.#options = options;
    // Only a dead-letter policy makes the server count delivery attempts;
    // without a count, handing a failed task back could retry it forever.
    this.redelivers = options.deadLetterTopic !== undefined;
    this.renewEveryMs = Math.max(500, options.deadlineSeconds * 1000 / 3);
  }

  #pull(): Promise<PullResult> {
    const maxMessages = this.#options.dryRun ? 100 : 1;
    return this.#subscriber.pull(
      { subscription: this.#options.subscription, maxMessages },
      { timeout: PULL_TIMEOUT_MS },
    ).then(
      ([response]) => ({ messages: response.receivedMessages ?? [] }),
      (error: unknown) => ({ error }),
    );
  }

  async #modify(ackIds: string[], seconds: number): Promise<void> {
    if (ackIds.length === 0) return;
    await this.#subscriber.modifyAckDeadline({
      subscription: this.#options.subscription,
      ackIds,
      ackDeadlineSeconds: seconds,
    });
  }

  /** Gives back the messages of a pull nobody waits for any more. */
  #orphan(pull: Promise<PullResult>): void {
    const settled = pull.then(async (result) => {
      if ("messages" in result) {
        await this.#modify(result.messages.map((m) => m.ackId!), 0);
      }
    }).catch(() => {
      // Not given back: they return when their ack deadline passes.
    }).finally(() => this.#orphans.delete(settled));
    this.#orphans.add(settled);
  }

  async #receive(signal: AbortSignal): Promise<ReceivedMessage | undefined> {
    let failingSince: number | undefined;
    let backoff = 1000;
    while (!signal.aborted) {
      const buffered = this.#buffer.shift();
      if (buffered) return buffered;
      const pull = this.#pull();
      let onAbort = () => {};
      const aborted = new Promise<"aborted">((resolve) => {
        onAbort = () => resolve("aborted");
        signal.addEventListener("abort", onAbort, { once: true });
      });
      // A pull is never cancelled: the server may already have handed its
      // messages to the response, and they would wait out their deadline.
      const result = await Promise.race([pull, aborted]);
      signal.removeEventListener("abort", onAbort);
      if (result === "aborted") {
        this.#orphan(pull);
        return undefined;
      }
      if ("error" in result) {
        const status = code(result.error);
        if (status === CODE.DEADLINE_EXCEEDED) continue; // an idle pull
        failingSince ??= Date.now();
        if (
          status === undefined || !TRANSIENT.has(status) ||
          Date.now() - failingSince > PULL_GIVE_UP_MS
        ) {
          throw new Error(
            `Cannot pull from ${this.#options.subscription}: ${
              message(result.error)
            }`,
            { cause: result.error },
          );
        }
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      failingSince = undefined;
      backoff = 1000;
      const messages = result.messages.filter((m) => m.ackId && m.message);
      if (this.#options.dryRun) {
        // Held (not shown again) until close, so the dry run ends once the
        // server has nothing new to hand out.
        for (const m of messages) this.#held.set(m.ackId!, m);
        await this.#modify(messages.map((m) => m.ackId!), DRY_HOLD_SECONDS);
        const fresh = messages.filter((m) =>
          !this.#shown.has(m.message!.messageId ?? m.ackId!)
        );
        for (const m of fresh) {
          this.#shown.add(m.message!.messageId ?? m.ackId!);
        }
        if (messages.length === 0) return undefined;
        this.#buffer.push(...fresh);
        continue;
      }
      const [first, ...extra] = messages;
      // One was asked for; should the server send more, they go back.
      if (extra.length > 0) this.#orphan(Promise.resolve({ messages: extra }));
      if (first) return first;
    }
    return undefined;
  }

  async next(signal: AbortSignal): Promise<Delivery | undefined> {
    if (this.#closed) return undefined;
    const received = await this.#receive(signal);
    if (!received) return undefined;
    const ackId = received.ackId!;
    const id = received.message!.messageId ?? ackId;
    if (!this.#options.dryRun) this.#held.set(ackId, received);
    const decoded = decode(text(received), this.#options.decoder);
    const settle = (act: () => Promise<void>) => async () => {
      await act();
      this.#held.delete(ackId);
    };
    const giveBack = this.#options.dryRun
      ? () => Promise.resolve() // held until close: shown once
      : settle(() => this.#modify([ackId], 0));
    const ack = settle(async () => {
      await this.#subscriber.acknowledge({
        subscription: this.#options.subscription,
        ackIds: [ackId],
      });
    });
    return {
      param: decoded.param,
      // The server only counts attempts under a dead-letter policy.
      attempt: this.redelivers ? Math.max(1, received.deliveryAttempt ?? 1) : 1,
      id,
      ...(decoded.ok ? {} : { malformed: `message ${id}: ${decoded.error}` }),
      ack,
      nack: giveBack,
      release: giveBack,
      fail: async (reason) => {
        const topic = this.#options.deadLetterTopic;
        if (topic !== undefined) {
          this.#deadLetter ??= this.#pubsub.topic(topic);
          await this.#deadLetter.publishMessage({
            data: Buffer.from(received.message!.data ?? ""),
            attributes: {
              ...(received.message!.attributes ?? {}),
              minionize_error: reason.slice(0, ATTRIBUTE_MAX),
              minionize_subscription: this.#options.subscription,
              minionize_message_id: id,
            },
          });
        }
        await ack();
      },
      renew: () => this.#modify([ackId], this.#options.deadlineSeconds),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#orphans]);
    try {
      await this.#modify([...this.#held.keys()], 0);
    } catch {
      // Not given back: they return when their ack deadline passes.
    }
    this.#held.clear();
    await Promise.allSettled([this.#subscriber.close(), this.#pubsub.close()]);
  }
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
        if (code(error) !== CODE.ALREADY_EXISTS) {
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
          if (code(error) !== CODE.ALREADY_EXISTS) {
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
export const googleEngine: EnginePlugin = { open, publish };
