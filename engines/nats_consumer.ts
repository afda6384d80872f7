/**
 * The consuming side of engine `nats` (see `nats.ts`): pulls from the
 * durable consumer on one long-lived inbox, hands messages out, settles
 * each with an ack, a nak or a dead letter, and moves messages that reached
 * `MaxDeliver` to the dead-letter subject.
 *
 * @module
 */

import { jetstream, type JetStreamManager } from "npm:@nats-io/jetstream@3.4.0";
import {
  createInbox,
  type NatsConnection,
} from "npm:@nats-io/transport-node@3.4.0";
import type { Delivery, Engine } from "../core/contracts.ts";
import { Doorbell } from "./_broker/doorbell.ts";
import { Holdings, renewEvery } from "./_broker/holding.ts";
import { paramFields } from "./_broker/param.ts";
import {
  deadLetter,
  nak,
  nanos,
  type NatsSettings,
  outbox,
  PULL_MS,
  type Pulled,
  pulledOf,
} from "./nats_client.ts";

const text = new TextDecoder();

/**
 * Consumes the stream through its durable consumer, holding about
 * `concurrency` messages (a batch more while tasks are short).
 *
 * @param nc a connection, drained when the engine closes
 * @param jsm its JetStream manager
 * @param settings the stream, consumer and lease
 * @param concurrency the minion's `-j`
 */
export function consumeStream(
  nc: NatsConnection,
  jsm: JetStreamManager,
  settings: NatsSettings,
  concurrency: number,
): Engine {
  const js = jetstream(nc);
  // One minion (a queue group) moves messages that reached MaxDeliver to
  // the dead-letter subject, so they do not stay in the stream for ever.
  const advisories = nc.subscribe(
    `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${settings.stream}.${settings.consumer}`,
    {
      queue: `minionize-${settings.stream}-${settings.consumer}`,
      callback: (error, msg) => {
        if (error) return;
        const advisory = msg.json<{ stream_seq: number; deliveries: number }>();
        (async () => {
          const stored = await jsm.streams.getMessage(settings.stream, {
            seq: advisory.stream_seq,
          });
          if (!stored) return;
          await deadLetter(
            js,
            settings,
            stored.data,
            `delivered ${advisory.deliveries} times (NATS_MAX_DELIVER) without an ack: its minions stopped or died`,
            advisory.stream_seq,
            advisory.deliveries,
          );
          await jsm.streams.deleteMessage(
            settings.stream,
            advisory.stream_seq,
          );
        })().catch(() => {});
      },
    },
  );

  // Pulls go out on one long-lived inbox, each for the slots that are free
  // and not yet asked for: cheaper than a subscription per pull, and never
  // more messages held than the minion can run.
  const out = outbox(nc);
  const buffer: Pulled[] = [];
  const holdings = new Holdings();
  let stopping = false;
  // Pull requests still open, oldest first (the server fills them in order).
  const requests: { left: number; until: number }[] = [];
  const bell = new Doorbell();
  const inbox = createInbox();
  const apiNext =
    `$JS.API.CONSUMER.MSG.NEXT.${settings.stream}.${settings.consumer}`;
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error) return;
      const code = msg.headers?.code ?? 0;
      if (code >= 100 && !msg.reply) {
        // A status: the request timed out, or was cut short.
        if (code >= 400) requests.shift();
        bell.ring();
        return;
      }
      const pulled = pulledOf(msg);
      if (!pulled) return;
      if (requests[0] && --requests[0].left <= 0) requests.shift();
      if (stopping) nak(out, pulled.reply, PULL_MS);
      else buffer.push(pulled);
      bell.ring();
    },
  });

  const ask = (free: number) => {
    requests.push({ left: free, until: Date.now() + PULL_MS + 500 });
    nc.publish(
      apiNext,
      JSON.stringify({ batch: free, expires: nanos(PULL_MS) }),
      { reply: inbox },
    );
  };

  const deliver = (msg: Pulled): Delivery => {
    const hold = holdings.take();
    return {
      ...paramFields(text.decode(msg.data), settings.decoder),
      attempt: Math.max(1, msg.deliveries),
      id: String(msg.sequence),
      ack: () => hold.settle(() => out.publish(msg.reply, "+ACK")),
      nack: () => hold.settle(() => nak(out, msg.reply, 0)),
      // Delayed past this minion's pending pull, so another minion gets it.
      release: () => hold.settle(() => nak(out, msg.reply, PULL_MS)),
      fail: (reason) =>
        hold.settle(async () => {
          await deadLetter(
            js,
            settings,
            msg.data,
            reason,
            msg.sequence,
            msg.deliveries,
          );
          out.publish(msg.reply, "+ACK");
        }),
      renew: () => {
        if (!hold.settled) out.publish(msg.reply, "+WPI");
        return Promise.resolve();
      },
    };
  };

  return {
    name: "nats",
    redelivers: true,
    renewEveryMs: renewEvery(settings.leaseMs),
    async next(signal): Promise<Delivery | undefined> {
      while (!signal.aborted) {
        if (nc.isClosed()) throw new Error("the NATS connection is closed");
        while (requests[0] && Date.now() > requests[0].until) requests.shift();
        const asked = requests.reduce((sum, { left }) => sum + left, 0);
        // Short tasks: one batch ahead hides the pull's round trip, and a
        // message waits only a few ms. Long tasks: nothing ahead, so a busy
        // minion never sits on messages an idle one could run.
        const ahead = holdings.short ? concurrency : 0;
        const want = concurrency + ahead - holdings.held - buffer.length -
          asked;
        if (want > 0 && (buffer.length === 0 || want >= concurrency)) {
          ask(want);
        }
        const msg = buffer.shift();
        if (msg) return deliver(msg);
        await bell.wait(signal, PULL_MS + 500);
      }
      stopping = true;
      for (const msg of buffer.splice(0)) nak(out, msg.reply, PULL_MS);
      return undefined;
    },
    async remaining() {
      const info = await jsm.consumers.info(settings.stream, settings.consumer);
      return info.num_pending + info.num_ack_pending;
    },
    async close() {
      stopping = true;
      for (const msg of buffer.splice(0)) nak(out, msg.reply, PULL_MS);
      sub.unsubscribe();
      advisories.unsubscribe();
      out.flush();
      // Flushes the acks and naks still buffered.
      await nc.drain().catch(() => nc.close());
    },
  };
}
