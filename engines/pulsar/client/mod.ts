/**
 * A Pulsar client in TypeScript, with no native library: the binary
 * protocol over TCP or TLS (`pulsar://`, `pulsar+ssl://`), topic lookup,
 * token authentication, Shared-subscription consumers with flow permits
 * and batch unpacking, and producers that resend after a reconnect.
 *
 * It knows nothing of minionize's engines or settings: the `pulsar` engine
 * (`engines/pulsar/mod.ts`) is built on this front and nothing else here.
 *
 * @example Send one message, then receive and acknowledge it
 * ```ts ignore
 * import { Consumer, Producer, PulsarClient } from "./mod.ts";
 *
 * const client = new PulsarClient({ serviceUrl: "pulsar://127.0.0.1:6650" });
 * const topic = "persistent://public/default/jobs";
 * const consumer = await Consumer.open(client, {
 *   topic,
 *   subscription: "demo",
 *   permits: 10,
 * });
 * const producer = await Producer.open(client, topic);
 * await producer.send({ payload: new TextEncoder().encode("hello") });
 * const received = await consumer.receive(AbortSignal.timeout(10_000));
 * received?.ack();
 * await producer.close();
 * await consumer.close();
 * await client.close();
 * ```
 *
 * @module
 */

export {
  type ClientOptions,
  fullTopicName,
  PulsarClient,
} from "./pulsar_client.ts";
export {
  Consumer,
  type ConsumerOptions,
  type Message,
  type Received,
} from "./consumer.ts";
export { type OutgoingMessage, Producer } from "./producer.ts";
export {
  type BrokerAddress,
  Connection,
  type ConnectionOptions,
  type ConsumerHandler,
  parseServiceUrl,
  type ProducerHandler,
  PulsarError,
} from "./connection.ts";
export type {
  Command,
  KeyValue,
  MessageId,
  MessageMetadata,
} from "./commands.ts";
export type { Frame } from "./framing.ts";
