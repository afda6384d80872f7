/**
 * Google's fake Pub/Sub server (`pstest`, from the Go module
 * `cloud.google.com/go/pubsub/v2`), built by `install/pstest.sh` from the
 * small program in `pstest/` into `.cache/bin/pstest`, and served as plain
 * gRPC for clients that honour `PUBSUB_EMULATOR_HOST`.
 *
 * @module
 */

import { PubSub, v1 } from "@google-cloud/pubsub";
import {
  available,
  CACHE,
  freePort,
  listening,
  type RunningService,
  spawnServer,
  tail,
  waitUntil,
} from "./harness.ts";

/** The built server. */
export const PSTEST = `${CACHE}/bin/pstest`;

/** Whether pstest is built (under CI, throws when it is not). */
export function pstestAvailable(): boolean {
  return available(PSTEST, "bash tests/services/install.sh pstest");
}

/**
 * Starts pstest on a free 127.0.0.1 port. Its `env` holds
 * `PUBSUB_EMULATOR_HOST` and a `GOOGLE_PROJECT_ID` to use with it.
 */
export async function startPstest(): Promise<RunningService> {
  const port = freePort();
  const server = await spawnServer("pstest", PSTEST, [`127.0.0.1:${port}`]);
  try {
    await waitUntil("pstest", () => listening(port), 30_000);
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n${await tail(server.log)}`);
  }
  return {
    env: {
      PUBSUB_EMULATOR_HOST: `127.0.0.1:${port}`,
      GOOGLE_PROJECT_ID: "minionize-test",
    },
    stop: () => server.stop(),
  };
}

/** What {@linkcode createQueue} makes. */
export interface QueueOptions {
  /** The subscription's ack deadline, in seconds. @default {10} */
  ackDeadlineSeconds?: number;
  /**
   * Give the subscription a dead-letter policy with this many delivery
   * attempts, and a subscription on the dead-letter topic to count what
   * lands there. @default {no dead-letter policy}
   */
  maxDeliveryAttempts?: number;
}

/** A topic and its subscription on a running pstest. */
export interface Queue {
  /** `GOOGLE_TOPIC_ID` and `GOOGLE_SUBSCRIPTION` (and the server's env). */
  env: Record<string, string>;
  /** Takes and acknowledges every message waiting in the subscription. */
  drain(): Promise<string[]>;
  /** Takes and acknowledges what reached the dead-letter topic. */
  drainDeadLetters(): Promise<string[]>;
  /** Closes the admin client. */
  close(): Promise<void>;
}

let serial = 0;

/** Creates a fresh topic and subscription named after `name`. */
export async function createQueue(
  service: RunningService,
  name: string,
  options: QueueOptions = {},
): Promise<Queue> {
  const pubsub = new PubSub({
    projectId: service.env.GOOGLE_PROJECT_ID!,
    apiEndpoint: service.env.PUBSUB_EMULATOR_HOST!,
    emulatorMode: true,
    universeDomain: "googleapis.com",
  });
  const id = `${name}-${Date.now()}-${++serial}`;
  const [topic] = await pubsub.createTopic(`t-${id}`);
  let deadLetters: string | undefined;
  if (options.maxDeliveryAttempts !== undefined) {
    const [dead] = await pubsub.createTopic(`dead-${id}`);
    deadLetters = `dead-sub-${id}`;
    await dead.createSubscription(deadLetters);
  }
  await topic.createSubscription(`s-${id}`, {
    ackDeadlineSeconds: options.ackDeadlineSeconds ?? 10,
    ...(options.maxDeliveryAttempts === undefined ? {} : {
      deadLetterPolicy: {
        deadLetterTopic: `projects/${pubsub.projectId}/topics/dead-${id}`,
        maxDeliveryAttempts: options.maxDeliveryAttempts,
      },
    }),
  });
  const drain = async (subscription: string) => {
    const client = new v1.SubscriberClient(
      await pubsub.getClientConfig() as ConstructorParameters<
        typeof v1.SubscriberClient
      >[0],
    );
    const texts: string[] = [];
    const name = `projects/${pubsub.projectId}/subscriptions/${subscription}`;
    try {
      while (true) {
        const [response] = await client.pull({
          subscription: name,
          maxMessages: 1000,
          returnImmediately: true,
        });
        const messages = response.receivedMessages ?? [];
        if (messages.length === 0) return texts;
        for (const m of messages) {
          texts.push(new TextDecoder().decode(m.message!.data as Uint8Array));
        }
        await client.acknowledge({
          subscription: name,
          ackIds: messages.map((m) => m.ackId!),
        });
      }
    } finally {
      await client.close();
    }
  };
  return {
    env: {
      ...service.env,
      GOOGLE_TOPIC_ID: `t-${id}`,
      GOOGLE_SUBSCRIPTION: `s-${id}`,
    },
    drain: () => drain(`s-${id}`),
    drainDeadLetters: () =>
      deadLetters === undefined ? Promise.resolve([]) : drain(deadLetters),
    close: () => pubsub.close(),
  };
}
