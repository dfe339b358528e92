// An id -> string table (character-level vocabularies and the like): token i is vocab[i];
// text encodes greedily, longest match first.
import { TokenizerError, type Tokenizer } from "./tokenizer.js";
import { Utf8Stream } from "./utf8-stream.js";

/** FNV-1a of the table, so two tables never share a cache key by accident of length. */
function fingerprint(vocab: readonly string[]): string {
  let h = 0x811c9dc5;
  for (const ch of JSON.stringify(vocab)) {
    h ^= ch.codePointAt(0) as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** A tokenizer from an explicit id -> string table (non-empty, distinct, non-empty strings). */
export function tableTokenizer(vocab: readonly string[]): Tokenizer {
  if (!Array.isArray(vocab) || vocab.length === 0) throw new TokenizerError(`table tokenizer: vocab must be a non-empty list of strings (got ${JSON.stringify(vocab)?.slice(0, 80)})`);
  const byString = new Map<string, number>();
  vocab.forEach((s, i) => {
    if (typeof s !== "string" || s.length === 0) throw new TokenizerError(`table tokenizer: vocab[${i}] must be a non-empty string (got ${JSON.stringify(s)})`);
    if (byString.has(s)) throw new TokenizerError(`table tokenizer: vocab[${i}] ${JSON.stringify(s)} repeats vocab[${byString.get(s)}]`);
    byString.set(s, i);
  });
  const table = [...vocab];
  const maxLen = Math.max(...table.map((s) => s.length));
  const bytes = table.map((s) => [...new TextEncoder().encode(s)]);
  const tokenBytes = (id: number) => bytes[id] ?? [];
  return {
    kind: "table",
    vocabSize: table.length,
    id: `table-v1-${table.length}-${fingerprint(table)}`,
    encode(text) {
      const out: number[] = [];
      for (let i = 0; i < text.length; ) {
        let found = false;
        for (let len = Math.min(maxLen, text.length - i); len > 0; len--) {
          const id = byString.get(text.slice(i, i + len));
          if (id !== undefined) {
            out.push(id);
            i += len;
            found = true;
            break;
          }
        }
        if (!found) throw new TokenizerError(`character ${JSON.stringify(text[i])} is not in this model's vocabulary`);
      }
      return Int32Array.from(out);
    },
    decode: (ids) => Array.from(ids, (i) => table[i] ?? "").join(""),
    tokenBytes,
    bytesPerToken: () => bytes.reduce((a, b) => a + b.length, 0) / bytes.length,
    decoder: () => {
      const utf8 = new Utf8Stream();
      return { push: (id) => utf8.push(tokenBytes(id)), flush: () => utf8.flush() };
    },
    toJSON: () => ({ type: "table", vocab: [...table] }),
  };
}
