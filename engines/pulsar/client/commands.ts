/**
 * The Pulsar protocol's commands this client uses, as a proto2 schema
 * written from the protocol documentation (field numbers are the wire
 * contract), encoded and decoded with protobufjs.
 *
 * Proto2 `required` fields must be written even when zero; protobufjs does
 * so for fields declared `required`, which is why the schema keeps them.
 *
 * @module
 */

import protobuf from "npm:protobufjs@7.6.6";

const SCHEMA = `
syntax = "proto2";
package pulsar;

message MessageIdData {
  required uint64 ledgerId = 1;
  required uint64 entryId = 2;
  optional int32 partition = 3 [default = -1];
  optional int32 batch_index = 4 [default = -1];
  repeated int64 ack_set = 5;
  optional int32 batch_size = 6;
}

message KeyValue {
  required string key = 1;
  required string value = 2;
}

message MessageMetadata {
  required string producer_name = 1;
  required uint64 sequence_id = 2;
  required uint64 publish_time = 3;
  repeated KeyValue properties = 4;
  optional string partition_key = 6;
  optional int32 compression = 8 [default = 0];
  optional uint32 uncompressed_size = 9 [default = 0];
  optional int32 num_messages_in_batch = 11 [default = 1];
  optional uint64 event_time = 12 [default = 0];
  optional bool null_value = 25 [default = false];
}

message SingleMessageMetadata {
  repeated KeyValue properties = 1;
  optional string partition_key = 2;
  required int32 payload_size = 3;
  optional bool compacted_out = 4 [default = false];
  optional uint64 event_time = 5 [default = 0];
  optional bool null_value = 9 [default = false];
}

message FeatureFlags {
  optional bool supports_auth_refresh = 1 [default = false];
}

message CommandConnect {
  required string client_version = 1;
  optional bytes auth_data = 3;
  optional int32 protocol_version = 4 [default = 0];
  optional string auth_method_name = 5;
  optional FeatureFlags feature_flags = 10;
}

message CommandConnected {
  required string server_version = 1;
  optional int32 protocol_version = 2 [default = 0];
  optional int32 max_message_size = 3;
}

message AuthData {
  optional string auth_method_name = 1;
  optional bytes auth_data = 2;
}

message CommandAuthChallenge {
  optional string server_version = 1;
  optional AuthData challenge = 2;
  optional int32 protocol_version = 3 [default = 0];
}

message CommandAuthResponse {
  optional string client_version = 1;
  optional AuthData response = 2;
  optional int32 protocol_version = 3 [default = 0];
}

message CommandSubscribe {
  required string topic = 1;
  required string subscription = 2;
  required int32 subType = 3;
  required uint64 consumer_id = 4;
  required uint64 request_id = 5;
  optional string consumer_name = 6;
  optional bool durable = 8 [default = true];
  optional int32 initialPosition = 13 [default = 0];
  optional bool force_topic_creation = 15 [default = true];
}

message CommandPartitionedTopicMetadata {
  required string topic = 1;
  required uint64 request_id = 2;
}

message CommandPartitionedTopicMetadataResponse {
  optional uint32 partitions = 1;
  required uint64 request_id = 2;
  optional int32 response = 3;
  optional int32 error = 4;
  optional string message = 5;
}

message CommandLookupTopic {
  required string topic = 1;
  required uint64 request_id = 2;
  optional bool authoritative = 3 [default = false];
}

message CommandLookupTopicResponse {
  optional string brokerServiceUrl = 1;
  optional string brokerServiceUrlTls = 2;
  optional int32 response = 3;
  required uint64 request_id = 4;
  optional bool authoritative = 5 [default = false];
  optional int32 error = 6;
  optional string message = 7;
  optional bool proxy_through_service_url = 8 [default = false];
}

message CommandProducer {
  required string topic = 1;
  required uint64 producer_id = 2;
  required uint64 request_id = 3;
  optional string producer_name = 4;
}

message CommandSend {
  required uint64 producer_id = 1;
  required uint64 sequence_id = 2;
  optional int32 num_messages = 3 [default = 1];
}

message CommandSendReceipt {
  required uint64 producer_id = 1;
  required uint64 sequence_id = 2;
  optional MessageIdData message_id = 3;
}

message CommandSendError {
  required uint64 producer_id = 1;
  required uint64 sequence_id = 2;
  required int32 error = 3;
  required string message = 4;
}

message CommandMessage {
  required uint64 consumer_id = 1;
  required MessageIdData message_id = 2;
  optional uint32 redelivery_count = 3 [default = 0];
  repeated int64 ack_set = 4;
}

message CommandAck {
  required uint64 consumer_id = 1;
  required int32 ack_type = 2;
  repeated MessageIdData message_id = 3;
}

message CommandFlow {
  required uint64 consumer_id = 1;
  required uint32 messagePermits = 2;
}

message CommandSuccess {
  required uint64 request_id = 1;
}

message CommandError {
  required uint64 request_id = 1;
  required int32 error = 2;
  required string message = 3;
}

message CommandCloseProducer {
  required uint64 producer_id = 1;
  required uint64 request_id = 2;
}

message CommandCloseConsumer {
  required uint64 consumer_id = 1;
  required uint64 request_id = 2;
}

message CommandRedeliverUnacknowledgedMessages {
  required uint64 consumer_id = 1;
  repeated MessageIdData message_ids = 2;
}

message CommandProducerSuccess {
  required uint64 request_id = 1;
  required string producer_name = 2;
  optional int64 last_sequence_id = 3 [default = -1];
  optional bool producer_ready = 6 [default = true];
}

message CommandPing {}
message CommandPong {}

message BaseCommand {
  required int32 type = 1;
  optional CommandConnect connect = 2;
  optional CommandConnected connected = 3;
  optional CommandSubscribe subscribe = 4;
  optional CommandProducer producer = 5;
  optional CommandSend send = 6;
  optional CommandSendReceipt send_receipt = 7;
  optional CommandSendError send_error = 8;
  optional CommandMessage message = 9;
  optional CommandAck ack = 10;
  optional CommandFlow flow = 11;
  optional CommandSuccess success = 13;
  optional CommandError error = 14;
  optional CommandCloseProducer close_producer = 15;
  optional CommandCloseConsumer close_consumer = 16;
  optional CommandProducerSuccess producer_success = 17;
  optional CommandPing ping = 18;
  optional CommandPong pong = 19;
  optional CommandRedeliverUnacknowledgedMessages redeliverUnacknowledgedMessages = 20;
  optional CommandPartitionedTopicMetadata partitionMetadata = 21;
  optional CommandPartitionedTopicMetadataResponse partitionMetadataResponse = 22;
  optional CommandLookupTopic lookupTopic = 23;
  optional CommandLookupTopicResponse lookupTopicResponse = 24;
  optional CommandAuthChallenge authChallenge = 36;
  optional CommandAuthResponse authResponse = 37;
}
`;

/** `BaseCommand.type` values (the field holding the body is named beside). */
export const Type = {
  CONNECT: 2,
  CONNECTED: 3,
  SUBSCRIBE: 4,
  PRODUCER: 5,
  SEND: 6,
  SEND_RECEIPT: 7,
  SEND_ERROR: 8,
  MESSAGE: 9,
  ACK: 10,
  FLOW: 11,
  SUCCESS: 13,
  ERROR: 14,
  CLOSE_PRODUCER: 15,
  CLOSE_CONSUMER: 16,
  PRODUCER_SUCCESS: 17,
  PING: 18,
  PONG: 19,
  REDELIVER_UNACKNOWLEDGED_MESSAGES: 20,
  PARTITIONED_METADATA: 21,
  PARTITIONED_METADATA_RESPONSE: 22,
  LOOKUP: 23,
  LOOKUP_RESPONSE: 24,
  AUTH_CHALLENGE: 36,
  AUTH_RESPONSE: 37,
} as const;

/** Subscription types (`CommandSubscribe.subType`). */
export const SubType = { Exclusive: 0, Shared: 1, Failover: 2 } as const;

/** `CommandLookupTopicResponse.response` values. */
export const LookupType = { Redirect: 0, Connect: 1, Failed: 2 } as const;

/** `MessageMetadata.compression` values. */
export const Compression = {
  NONE: 0,
  LZ4: 1,
  ZLIB: 2,
  ZSTD: 3,
  SNAPPY: 4,
} as const;

/** The protocol version this client speaks (batch index acks and up). */
export const PROTOCOL_VERSION = 19;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const baseType = root.lookupType("pulsar.BaseCommand");
const metadataType = root.lookupType("pulsar.MessageMetadata");
const singleType = root.lookupType("pulsar.SingleMessageMetadata");

/** Where a message is kept: numbers, since ledger and entry ids stay < 2^53. */
export interface MessageId {
  /** The BookKeeper ledger holding the entry. */
  ledgerId: number;
  /** The entry in that ledger. */
  entryId: number;
  /** The partition, for a partitioned topic. */
  partition?: number;
  /** The message's place in its batch, for a batched message. */
  batch_index?: number;
  /** How many messages the batch holds. */
  batch_size?: number;
  /** Batch-index acknowledgement bits (set = not acknowledged yet). */
  ack_set?: Array<number | protobuf.Long>;
}

/** A decoded command: `type` plus the one body field its type names. */
// deno-lint-ignore no-explicit-any
export type Command = { type: number } & Record<string, any>;

/** A key/value property of a message. */
export interface KeyValue {
  /** The property's name. */
  key: string;
  /** Its value. */
  value: string;
}

/** The metadata before each message's payload (or a batch's). */
export interface MessageMetadata {
  /** The producer's name, unique on the topic. */
  producer_name: string;
  /** The producer's sequence number for this message. */
  sequence_id: number;
  /** When it was published, in ms since the epoch. */
  publish_time: number;
  /** Properties set by the producer. */
  properties?: KeyValue[];
  /** Routing key. */
  partition_key?: string;
  /** `Compression` of the payload. @default {0} */
  compression?: number;
  /** Payload size before compression. */
  uncompressed_size?: number;
  /** Set on batches only: how many messages the payload holds. */
  num_messages_in_batch?: number;
  /** Application time of the event. */
  event_time?: number;
  /** Whether the payload is null rather than empty. */
  null_value?: boolean;
}

/** The metadata before each message inside a batch. */
export interface SingleMessageMetadata {
  properties?: KeyValue[];
  partition_key?: string;
  payload_size: number;
  compacted_out?: boolean;
  null_value?: boolean;
}

const TO_OBJECT = { longs: Number, defaults: false } as const;

/** Encodes a command (e.g. `{ type: Type.FLOW, flow: {...} }`). */
export function encodeCommand(command: Command): Uint8Array {
  return baseType.encode(baseType.fromObject(command)).finish();
}

/**
 * Decodes a command. 64-bit fields come back as numbers, except `ack_set`
 * words, kept as Longs since they use all 64 bits.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  const message = baseType.decode(bytes);
  const object = baseType.toObject(message, TO_OBJECT) as Command;
  // ack_set words are bit sets: keep their exact bits.
  // deno-lint-ignore no-explicit-any
  const raw = message as any;
  if (raw.message?.ack_set?.length) {
    object.message.ack_set = raw.message.ack_set;
  }
  return object;
}

/** Encodes message metadata. */
export function encodeMetadata(metadata: MessageMetadata): Uint8Array {
  return metadataType.encode(metadataType.fromObject(metadata)).finish();
}

/** Decodes message metadata. */
export function decodeMetadata(bytes: Uint8Array): MessageMetadata {
  return metadataType.toObject(
    metadataType.decode(bytes),
    TO_OBJECT,
  ) as MessageMetadata;
}

/** Encodes the metadata of one message inside a batch. */
export function encodeSingleMetadata(
  metadata: SingleMessageMetadata,
): Uint8Array {
  return singleType.encode(singleType.fromObject(metadata)).finish();
}

/** Decodes the metadata of one message inside a batch. */
export function decodeSingleMetadata(
  bytes: Uint8Array,
): SingleMessageMetadata {
  return singleType.toObject(
    singleType.decode(bytes),
    TO_OBJECT,
  ) as SingleMessageMetadata;
}

/** A 64-bit word from two 32-bit halves, for `ack_set`. */
export function longFromBits(low: number, high: number): protobuf.Long {
  // deno-lint-ignore no-explicit-any
  return (protobuf.util.Long as any).fromBits(low, high, false);
}

/** The [low, high] 32-bit halves of an `ack_set` word. */
export function longBits(word: number | protobuf.Long): [number, number] {
  if (typeof word === "number") {
    return [word >>> 0, Math.floor(word / 2 ** 32) >>> 0];
  }
  return [word.low >>> 0, word.high >>> 0];
}
