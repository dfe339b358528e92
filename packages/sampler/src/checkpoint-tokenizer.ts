// The one place the sampler reads a checkpoint's tokenizer (config.json's "tokenizer" field);
// its text streams through generate.ts's Utf8Stream (tokenBytes). Today the byte tokenizer the trainer writes (ids are UTF-8 bytes,
// the same rules as @mixdepth/train's tokenizerFromJSON); when @mixdepth/text lands, this
// module becomes its tokenizerFromJSON and Utf8Stream, and nothing else in the package moves.
import { CheckpointError } from "@mixdepth/transformer";

/** What the text generator needs of a tokenizer. */
export interface CheckpointTokenizer {
  /** Number of token ids (0 .. vocabSize - 1). */
  readonly vocabSize: number;
  encode(text: string): number[];
  /** Text of a whole id sequence (multi-byte characters decoded together). */
  decode(ids: ArrayLike<number>): string;
  /** The UTF-8 bytes of one token, for streaming text. */
  tokenBytes(id: number): number[];
}

const quote = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 120);

/**
 * The tokenizer of a checkpoint whose model has `modelVocabSize` tokens: `{ type: "byte" }`
 * (as the trainer writes it), or no field at all for a byte-level model (vocabSize 256, what
 * saveModel writes). Anything else is a CheckpointError naming the field and quoting it.
 */
export function checkpointTokenizer(field: unknown, modelVocabSize: number): CheckpointTokenizer {
  const fail = (why: string): never => {
    throw new CheckpointError(`config.json tokenizer: ${why}`);
  };
  if (field === undefined || field === null) {
    if (modelVocabSize !== 256) fail(`absent, and the model's vocabSize is ${modelVocabSize}; a checkpoint without one is read as bytes only when vocabSize is 256 (add {"type": "byte"})`);
  } else {
    const t = field as Record<string, unknown>;
    if (typeof field !== "object" || Array.isArray(field)) fail(`expected an object like {"type": "byte"} (got ${quote(field)})`);
    if (t.type !== "byte") fail(`type: unknown tokenizer ${quote(t.type)} (known: "byte")`);
    if (t.vocabSize !== undefined && t.vocabSize !== 256) fail(`vocabSize: a byte tokenizer has 256 tokens (got ${quote(t.vocabSize)})`);
    if (modelVocabSize < 256) fail(`has 256 tokens, more than the model's vocabSize ${modelVocabSize}`);
  }
  return {
    vocabSize: 256,
    encode: (text) => [...new TextEncoder().encode(text)],
    decode: (ids) => new TextDecoder("utf-8").decode(Uint8Array.from(Array.from(ids).filter((i) => i < 256))),
    tokenBytes: (id) => (id < 256 ? [id] : []),
  };
}

