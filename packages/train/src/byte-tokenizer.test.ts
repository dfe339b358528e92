// The byte tokenizer: round trip of any text, its checkpoint JSON, and streaming decoding
// that prints a multi-byte character once, when its last byte arrives.
import { describe, expect, it } from "vitest";
import { byteTokenizer, tokenizerFromJSON } from "./byte-tokenizer.js";

describe("byteTokenizer", () => {
  const tok = byteTokenizer();

  it("encodes UTF-8 bytes and decodes them back", () => {
    const ids = tok.encode("héllo €");
    expect(Array.from(ids)).toEqual([104, 0xc3, 0xa9, 108, 108, 111, 32, 0xe2, 0x82, 0xac]);
    expect(tok.decode(ids)).toBe("héllo €");
    expect(tok.tokenBytes(0xc3)).toEqual([0xc3]);
    expect(tok.vocabSize).toBe(256);
  });

  it("round-trips through its checkpoint JSON; other tokenizers are refused by name", () => {
    const json = tok.toJSON();
    expect(json.idToByte).toHaveLength(256);
    expect(tokenizerFromJSON(JSON.parse(JSON.stringify(json))).id).toBe("byte-v1");
    expect(() => tokenizerFromJSON({ type: "bpe", vocabSize: 50257 })).toThrow(/unsupported tokenizer in checkpoint: \{"type":"bpe","vocabSize":50257\}/);
  });

  it("streams: each character once, held back until complete, invalid bytes as U+FFFD at flush", () => {
    const d = tok.decoder();
    const deltas = Array.from(tok.encode("a€b"), (id) => d.push(id));
    expect(deltas).toEqual(["a", "", "", "€", "b"]); // € is 3 bytes: nothing until the third
    expect(d.flush()).toBe("");
    const e = tok.decoder();
    expect(e.push(0xe2) + e.push(0x82)).toBe("");
    expect(e.flush()).toBe("\uFFFD");
  });
});
