// Streaming text for byte-level tokens. A multi-byte UTF-8 character can span several
// tokens; decoding the whole output again at every step and diffing it against the previous
// text breaks there (the partial character decodes to U+FFFD, the next step's text is no
// longer an extension, and the whole text used to be emitted again). A streaming decoder
// holds incomplete sequences back until their last byte arrives, emits every character
// exactly once, and does O(bytes of the token) work per token.

/** Incremental UTF-8 decoder: push each token's bytes, get the text they complete. */
export class Utf8Stream {
  // TextDecoder's stream mode keeps an incomplete trailing sequence buffered between calls;
  // invalid bytes become U+FFFD once (not fatal: model output is arbitrary bytes).
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  /** Text completed by `bytes` (may be "" while a character is incomplete). */
  push(bytes: ArrayLike<number>): string {
    return this.decoder.decode(Uint8Array.from(bytes), { stream: true });
  }

  /** Ends the stream: an incomplete trailing sequence becomes U+FFFD. Resets the decoder. */
  flush(): string {
    return this.decoder.decode();
  }
}

/**
 * Text delta when only a whole-sequence `decode` is available: the new text minus the text
 * already emitted, holding back trailing U+FFFD (an incomplete character that the next token
 * may complete) unless `final`. Emitted text is never repeated. O(length) per call.
 */
export function heldBackDelta(decoded: string, emitted: string, final: boolean): string {
  let end = decoded.length;
  if (!final) while (end > 0 && decoded.charCodeAt(end - 1) === 0xfffd) end--;
  return end > emitted.length && decoded.startsWith(emitted) ? decoded.slice(emitted.length, end) : "";
}
