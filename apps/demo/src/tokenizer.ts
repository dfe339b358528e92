// Tokenizers the demo understands, read from a checkpoint's config.json. The trainer's
// default is byte-level (ids are UTF-8 bytes); a table tokenizer (id -> string) covers
// character-level vocabularies. Labels are what the routing map prints above each column.
import { Utf8Stream } from "@mixdepth/sampler";

export interface Tokenizer {
  readonly kind: "byte" | "table";
  readonly vocabSize: number;
  encode(text: string): number[];
  /** Text of a whole id sequence (bytes are decoded together, so multi-byte characters survive). */
  decode(ids: readonly number[]): string;
  /** A short visible label for one token (spaces and control characters made visible). */
  label(id: number): string;
  /**
   * The text each token completes, one string per id: joined they equal `decode(ids)`. A
   * multi-byte character shows up in the piece of its last byte (the earlier ones are "").
   */
  pieces(ids: readonly number[]): string[];
}

const VISIBLE: Record<string, string> = { " ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍" };

function visible(s: string): string {
  return [...s].map((ch) => VISIBLE[ch] ?? ch).join("");
}

export function byteTokenizer(vocabSize = 256): Tokenizer {
  if (vocabSize < 256) throw new Error(`byte tokenizer needs vocabSize >= 256 (got ${vocabSize})`);
  const enc = new TextEncoder();
  return {
    kind: "byte",
    vocabSize,
    encode: (text) => [...enc.encode(text)],
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.filter((i) => i < 256))),
    label(id) {
      if (id >= 256) return `#${id}`;
      if (id >= 0x20 && id < 0x7f) return visible(String.fromCharCode(id));
      if (id < 0x20) return VISIBLE[String.fromCharCode(id)] ?? `\\x${id.toString(16).padStart(2, "0")}`;
      return `\\x${id.toString(16)}`; // part of a multi-byte UTF-8 character
    },
    pieces(ids) {
      // The sampler's streaming decoder: what decode() would print, split where it arrives.
      const stream = new Utf8Stream();
      const out = ids.map((id) => (id < 256 ? stream.push([id]) : ""));
      if (out.length) out[out.length - 1] += stream.flush();
      return out;
    },
  };
}

/** A tokenizer from an explicit id -> string table; encodes greedily, longest match first. */
export function tableTokenizer(table: readonly string[]): Tokenizer {
  const byString = new Map(table.map((s, i) => [s, i] as const));
  const maxLen = Math.max(1, ...table.map((s) => s.length));
  return {
    kind: "table",
    vocabSize: table.length,
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
        if (!found) throw new Error(`character ${JSON.stringify(text[i])} is not in this model's vocabulary`);
      }
      return out;
    },
    decode: (ids) => ids.map((i) => table[i] ?? "").join(""),
    pieces: (ids) => ids.map((i) => table[i] ?? ""),
    label: (id) => visible(table[id] ?? `#${id}`),
  };
}

/**
 * Reads the tokenizer description of a checkpoint config (`tokenizer` field). Accepted:
 * missing or `{ type|kind: "byte" }` (byte-level; the trainer's `idToByte` must be the identity), or `{ vocab|tokens|idToToken: string[] }`.
 */
export function tokenizerFromJson(json: unknown, vocabSize: number): Tokenizer {
  if (json === undefined || json === null) return byteTokenizer(vocabSize);
  if (typeof json !== "object") throw new Error(`config.json tokenizer: expected an object (got ${JSON.stringify(json)})`);
  const t = json as Record<string, unknown>;
  const kind = t.type ?? t.kind;
  const table = t.vocab ?? t.tokens ?? t.idToToken;
  if (Array.isArray(table) && table.every((s) => typeof s === "string")) return tableTokenizer(table as string[]);
  if (kind === undefined || kind === "byte" || kind === "bytes" || kind === "byte-level") {
    // The trainer stores its id -> byte map explicitly; the demo reads the identity map only.
    const map = t.idToByte;
    if (Array.isArray(map) && map.some((b, i) => b !== i)) throw new Error("config.json tokenizer: idToByte is not the identity map; the demo reads identity byte maps only");
    return byteTokenizer(vocabSize);
  }
  throw new Error(`config.json tokenizer: unknown type ${JSON.stringify(kind)} (the demo reads "byte" or an id -> string table)`);
}
