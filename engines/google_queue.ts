/**
 * The consuming side of engine `google`: how a minion takes, holds and
 * settles Pub/Sub messages (see `google.ts` for the settings).
 *
 * Messages are taken with unary `Pull` calls asking for one message per free
 * slot of the minion: nothing waits in a client-side buffer, where it would
 * sit out its ack deadline, so `-j` is the flow control and a minion holds
 * at most `-j` messages.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { protos, PubSub, Topic, v1 } from "npm:@google-cloud/pubsub@6.3.0";
import type { Delivery, Engine } from "../core/contracts.ts";
import { delay } from "../core/async.ts";
import { decode, type Decoder } from "../core/param.ts";

type ReceivedMessage = protos.google.pubsub.v1.IReceivedMessage;

/** gRPC status codes the engine tells apart. */
export const CODE = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Codes after which a pull is worth trying again. */
const TRANSIENT = new Set([2, 4, 8, 10, 13, 14]);

/**
 * One pull's limit (the server answers sooner when it has messages): also
 * how long `close` waits for a pull in flight.
 */
const PULL_TIMEOUT_MS = 10_000;
/** Give up pulling after failing this long in a row (the library's own). */
const PULL_GIVE_UP_MS = 600_000;
/** How long a dry run holds what it has shown, so it is not shown twice. */
const DRY_HOLD_SECONDS = 600;
/** Empty pulls in a row after which a dry run has seen everything. */
const DRY_EMPTY_PULLS = 3;
/** Pub/Sub's limit on the length of one attribute value. */
const ATTRIBUTE_MAX = 1024;

/** The gRPC status code of a failed call, if it has one. */
export function grpcCode(error: unknown): number | undefined {
  const value = (error as { code?: unknown } | null)?.code;
  return typeof value === "number" ? value : undefined;
}

/** The first line of an error's message. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0]!;
}

function text(received: ReceivedMessage): string {
  const data = received.message?.data;
  if (data === undefined || data === null) return "";
  return typeof data === "string"
    ? Buffer.from(data, "base64").toString("utf8")
    : new TextDecoder().decode(data);
}

/** What a {@linkcode GoogleQueue} consumes, and how. */
export interface QueueOptions {
  /** The full subscription name. */
  subscription: string;
  /** How message text becomes a param. */
  decoder: Decoder;
  /** The subscription's ack deadline: how long a pull claims a message. */
  deadlineSeconds: number;
  /** The full name of its dead-letter topic, when it has a policy. */
  deadLetterTopic: string | undefined;
  /** Show each message once, consume none. */
  dryRun: boolean;
}

type PullResult = { messages: ReceivedMessage[] } | { error: unknown };

/**
 * A Pub/Sub subscription as a minion's queue: unary pulls of one message
 * per call, leases renewed by `renew`, nack as an ack deadline of 0.
 */
export class GoogleQueue implements Engine {
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

  /**
   * @param pubsub the client publishing to the dead-letter topic
   * @param subscriber the client pulling from the subscription
   * @param options the subscription and how to consume it
   */
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
    let empty = 0;
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
        const status = grpcCode(result.error);
        if (status === CODE.DEADLINE_EXCEEDED) continue; // an idle pull
        failingSince ??= Date.now();
        if (
          status === undefined || !TRANSIENT.has(status) ||
          Date.now() - failingSince > PULL_GIVE_UP_MS
        ) {
          throw new Error(
            `Cannot pull from ${this.#options.subscription}: ${
              firstLine(result.error)
            }`,
            { cause: result.error },
          );
        }
        // A stop ends the pause; the loop then sees the signal.
        await delay(backoff, { signal }).catch(() => {});
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
        // An empty answer does not prove the subscription empty: a few in
        // a row end the dry run.
        empty = messages.length === 0 ? empty + 1 : 0;
        if (empty >= DRY_EMPTY_PULLS) return undefined;
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
