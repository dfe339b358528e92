// Byte-level tokenizer: id i is the UTF-8 byte i (vocab 256). Any text encodes, nothing is
// out of vocabulary, and bits per byte equals bits per token. Its id map is written into the
// checkpoint's config.json so the model can be used without the trainer. Streaming decoding
// (a character split over several tokens printed once, when complete) is @mixdepth/sampler's
// Utf8Stream, the one streaming decoder of the project, fed with tokenBytes.
import { Utf8Stream } from "@mixdepth/sampler";

export interface TokenizerJSON {
  type: "byte";
  vocabSize: 256;
  encoding: "utf-8";
  /** idToByte[i] is the byte of token i (the identity map, stored explicitly). */
  idToByte: number[];
}

export interface Tokenizer {
  readonly vocabSize: number;
  /** Stable id used in cache keys. */
  readonly id: string;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  /** The UTF-8 bytes of one token (for streaming text: @mixdepth/sampler's tokenBytes). */
  tokenBytes(id: number): number[];
  /** Bytes of UTF-8 text per token, for bits-per-byte (1 for the byte tokenizer). */
  bytesPerToken(): number;
  /** A streaming decoder: push ids one at a time, get the text they complete. */
  decoder(): TokenStreamDecoder;
  toJSON(): TokenizerJSON;
}

/** Incremental decoding of a token stream (one per sequence; holds an incomplete character back). */
export interface TokenStreamDecoder {
  /** Text completed by token `id` ("" while a multi-byte character is incomplete). */
  push(id: number): string;
  /** Ends the stream: an incomplete trailing character becomes U+FFFD. */
  flush(): string;
}

export function byteTokenizer(): Tokenizer {
  return {
    vocabSize: 256,
    id: "byte-v1",
    encode: (text) => Int32Array.from(new TextEncoder().encode(text)),
    decode: (ids) => new TextDecoder("utf-8").decode(Uint8Array.from(ids as ArrayLike<number>)),
    tokenBytes: (id) => [id],
    bytesPerToken: () => 1,
    decoder: () => {
      const utf8 = new Utf8Stream();
      return { push: (id) => utf8.push([id]), flush: () => utf8.flush() };
    },
    toJSON: () => ({ type: "byte", vocabSize: 256, encoding: "utf-8", idToByte: Array.from({ length: 256 }, (_, i) => i) }),
  };
}

/** Rebuilds a tokenizer from a checkpoint's config.json entry (throws on an unknown type). */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const j = json as Partial<TokenizerJSON> | null;
  if (!j || j.type !== "byte" || j.vocabSize !== 256) throw new Error(`unsupported tokenizer in checkpoint: ${JSON.stringify(json)?.slice(0, 120)}`);
  return byteTokenizer();
}
