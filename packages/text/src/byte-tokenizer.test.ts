// The byte tokenizer: round trip of any text, its checkpoint JSON, and streaming decoding
// that prints a multi-byte character once, when its last byte arrives.
import { describe, expect, it } from "vitest";
import { byteTokenizer } from "./byte-tokenizer.js";

describe("byteTokenizer", () => {
  const tok = byteTokenizer();

  it("encodes UTF-8 bytes and decodes them back", () => {
    const ids = tok.encode("héllo €");
    expect(Array.from(ids)).toEqual([104, 0xc3, 0xa9, 108, 108, 111, 32, 0xe2, 0x82, 0xac]);
    expect(tok.decode(ids)).toBe("héllo €");
    expect(tok.tokenBytes(0xc3)).toEqual([0xc3]);
    expect([tok.kind, tok.vocabSize, tok.id, tok.bytesPerToken()]).toEqual(["byte", 256, "byte-v1", 1]);
  });

  it("ids past 256 (a model with a larger vocabulary) are not text: decode, tokenBytes and the stream skip them", () => {
    expect(tok.decode([104, 300, 105])).toBe("hi");
    expect(tok.tokenBytes(300)).toEqual([]);
    const d = tok.decoder();
    expect([104, 300, 105].map((id) => d.push(id))).toEqual(["h", "", "i"]);
  });

  it("writes its checkpoint JSON: the identity map, explicitly", () => {
    const json = tok.toJSON();
    expect(json).toMatchObject({ type: "byte", vocabSize: 256, encoding: "utf-8" });
    expect(json.type === "byte" && json.idToByte.every((b, i) => b === i) && json.idToByte.length).toBe(256);
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
