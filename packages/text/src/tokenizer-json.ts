// The one reader of a checkpoint's tokenizer: config.json's "tokenizer" field (the writer is
// each tokenizer's toJSON). The trainer, the CLI and the demo all read it here, so a checkpoint
// opens the same way everywhere. The rules, documented in the README:
// - field absent (undefined or null): the byte tokenizer, if the model's vocabSize is 256 (what
//   the library's saveModel writes for a byte-level model); otherwise an error, since any other
//   vocabulary would be a guess;
// - { type: "byte" } (vocabSize 256, encoding "utf-8" and an identity idToByte when given);
// - { type: "table", vocab: [...] } (distinct non-empty strings);
// - anything else: an error naming the field and quoting the value.
// The tokenizer's ids must fit the model: its vocabSize at most the model's (a larger model
// vocabulary is allowed: the extra ids are never encoded, and decode skips them).
import { byteTokenizer } from "./byte-tokenizer.js";
import { tableTokenizer } from "./table-tokenizer.js";
import { TokenizerError, type Tokenizer } from "./tokenizer.js";

const KNOWN = '"byte", "table"';
const quote = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 120);

function fail(reason: string): never {
  throw new TokenizerError(`config.json tokenizer: ${reason}`);
}

/** Reads a checkpoint's "tokenizer" field for a model of `modelVocabSize` tokens (see the rules above). */
export function tokenizerFromJSON(field: unknown, modelVocabSize: number): Tokenizer {
  let tokenizer: Tokenizer;
  if (field === undefined || field === null) {
    if (modelVocabSize !== 256) {
      fail(`absent, and the model's vocabSize is ${modelVocabSize}; without a "tokenizer" field a checkpoint is read as bytes only when vocabSize is 256 (add {"type": "byte"} or {"type": "table", "vocab": [...]})`);
    }
    return byteTokenizer();
  }
  if (typeof field !== "object" || Array.isArray(field)) fail(`expected an object like {"type": "byte"} (got ${quote(field)})`);
  const t = field as Record<string, unknown>;
  if (t.type === "byte") {
    if (t.vocabSize !== undefined && t.vocabSize !== 256) fail(`vocabSize: a byte tokenizer has 256 tokens (got ${quote(t.vocabSize)})`);
    if (t.encoding !== undefined && t.encoding !== "utf-8") fail(`encoding: must be "utf-8" (got ${quote(t.encoding)})`);
    const map = t.idToByte;
    if (map !== undefined && !(Array.isArray(map) && map.length === 256 && map.every((b, i) => b === i))) {
      fail(`idToByte: must be the identity map of 256 bytes (got ${quote(map)})`);
    }
    tokenizer = byteTokenizer();
  } else if (t.type === "table") {
    if (!Array.isArray(t.vocab)) fail(`vocab: must be a list of strings (got ${quote(t.vocab)})`);
    try {
      tokenizer = tableTokenizer(t.vocab as string[]);
    } catch (e) {
      fail((e as Error).message.replace(/^table tokenizer: /, ""));
    }
  } else {
    fail(`type: unknown tokenizer ${quote(t.type)} (known: ${KNOWN})`);
  }
  if (tokenizer.vocabSize > modelVocabSize) fail(`has ${tokenizer.vocabSize} tokens, more than the model's vocabSize ${modelVocabSize}`);
  return tokenizer;
}
