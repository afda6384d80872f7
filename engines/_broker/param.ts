/**
 * A message's text as a delivery's fields: the decoded param, and why it is
 * malformed when it cannot be decoded (the minion records it failed without
 * running it).
 *
 * @module
 */

import type { JsonValue } from "../../core/contracts.ts";
import { decode, type Decoder } from "../../core/param.ts";

/** The fields of a `Delivery` that its text gives. */
export interface ParamFields {
  /** The decoded param, or the text when it is malformed. */
  param: JsonValue;
  /** Why the text is no param under the decoder. */
  malformed?: string;
}

/**
 * Decodes `text`; a failure is a `malformed` field, prefixed with `what`
 * (e.g. `message 12: `) when given.
 */
export function paramFields(
  text: string,
  decoder: Decoder,
  what = "",
): ParamFields {
  const decoded = decode(text, decoder);
  return decoded.ok
    ? { param: decoded.param }
    : { param: decoded.param, malformed: `${what}${decoded.error}` };
}
