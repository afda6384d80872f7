/**
 * Params as text and back: the decoders engines share, and the canonical
 * form that makes two equal params compare equal.
 *
 * @module
 */

import type { Env, JsonValue, LineFormat } from "./contracts.ts";
import { readChoice } from "./env.ts";

/** How an engine turns a message's text into a param. */
export type Decoder = "identity" | "json";

/** The decoders, for validation and messages. */
export const DECODERS: readonly Decoder[] = ["identity", "json"];

/** The result of decoding one message. */
export type Decoded =
  | { ok: true; param: JsonValue }
  | { ok: false; param: string; error: string };

/**
 * Decodes a message: `identity` keeps the text as a string param, `json`
 * parses it (a failure is returned, not thrown, so one bad message cannot
 * stop a minion).
 *
 * @param text the message body
 * @param decoder which decoder to apply
 */
export function decode(text: string, decoder: Decoder): Decoded {
  if (decoder === "identity") return { ok: true, param: text };
  try {
    return { ok: true, param: JSON.parse(text) as JsonValue };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      param: text,
      error: `message is not JSON (${reason}): ${preview(text)}`,
    };
  }
}

/**
 * The text a minion reading with `decoder` decodes back into `param`: JSON
 * text under `json`; under `identity` a string as it is, and any other
 * value as its JSON text (the nearest text a program can be given).
 *
 * @param param the value to put on a queue
 * @param decoder the decoder the consuming minions use
 */
export function encode(param: JsonValue, decoder: Decoder): string {
  if (decoder === "identity" && typeof param === "string") return param;
  return JSON.stringify(param);
}

/**
 * An engine's `lineFormat`: how `minionize publish` reads lines so that
 * minions decode them as written (JSON values under the `json` decoder,
 * each line as text under `identity`).
 *
 * @param variable the engine's decoder variable, e.g. `REDIS_DECODER`
 */
export function decoderLineFormat(
  variable: string,
): (env: Env) => LineFormat {
  return (env) =>
    readChoice(env, variable, DECODERS, "identity") === "json"
      ? "json"
      : "lines";
}

/**
 * JSON text with object keys sorted at every level, so that equal params
 * have equal text whatever the key order they were written in.
 */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${
      keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`)
        .join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/** A param as one word: strings as they are, anything else as JSON text. */
export function paramText(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The first 80 characters of `text`, for messages. */
export function preview(text: string, max = 80): string {
  const flat = JSON.stringify(text);
  return flat.length <= max ? flat : `${flat.slice(0, max - 4)}..."`;
}
