// The tokenizer contract of mixdepth: text <-> token ids, the UTF-8 bytes of each token (for
// streaming text), and the JSON a checkpoint's config.json stores in its "tokenizer" field.
// Kinds today: "byte" (ids are UTF-8 bytes, the trainer's) and "table" (an id -> string table,
// for character-level vocabularies). A BPE tokenizer is a third kind behind the same interface:
// its own JSON, one more case in tokenizerFromJSON (tokenizer-json.ts).

/** The kinds of tokenizer a checkpoint can name in its "tokenizer" field. */
export type TokenizerKind = "byte" | "table";

/** The "tokenizer" field of a checkpoint config.json for the byte tokenizer (as the trainer writes it). */
export interface ByteTokenizerJSON {
  type: "byte";
  vocabSize: 256;
  encoding: "utf-8";
  /** idToByte[i] is the byte of token i (the identity map, stored explicitly). */
  idToByte: number[];
}

/** The "tokenizer" field for an id -> string table: token i is `vocab[i]`. */
export interface TableTokenizerJSON {
  type: "table";
  vocab: string[];
}

export type TokenizerJSON = ByteTokenizerJSON | TableTokenizerJSON;

export interface Tokenizer {
  readonly kind: TokenizerKind;
  /** Number of token ids this tokenizer produces (ids 0 .. vocabSize - 1). */
  readonly vocabSize: number;
  /** Stable id of the tokenizer and its vocabulary, for cache keys (e.g. "byte-v1"). */
  readonly id: string;
  encode(text: string): Int32Array;
  /** Text of a whole id sequence (bytes are decoded together, so multi-byte characters survive; ids the tokenizer lacks are skipped). */
  decode(ids: ArrayLike<number>): string;
  /** The UTF-8 bytes of one token ([] for an id the tokenizer lacks), e.g. for @mixdepth/sampler's `tokenBytes`. */
  tokenBytes(id: number): number[];
  /**
   * UTF-8 bytes per token, for bits per byte: 1 for the byte tokenizer; for a tokenizer whose
   * tokens differ in length, the mean over its vocabulary.
   */
  bytesPerToken(): number;
  /** A streaming decoder (one per sequence): push ids one at a time, get the text they complete. */
  decoder(): TokenStreamDecoder;
  /** The checkpoint's "tokenizer" field for this tokenizer (tokenizerFromJSON reads it back). */
  toJSON(): TokenizerJSON;
}

/** Incremental decoding of a token stream (one per sequence; holds an incomplete character back). */
export interface TokenStreamDecoder {
  /** Text completed by token `id` ("" while a multi-byte character is incomplete). */
  push(id: number): string;
  /** Ends the stream: an incomplete trailing character becomes U+FFFD. */
  flush(): string;
}

/** A tokenizer field that cannot be used, or text a tokenizer cannot encode. */
export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenizerError";
  }
}
