import { describe, expect, it } from "vitest";
import { byteTokenizer, tableTokenizer, tokenizerFromJson } from "./tokenizer.js";

describe("tokenizers", () => {
  it("byte-level round-trips UTF-8 and labels bytes visibly", () => {
    const t = byteTokenizer();
    const ids = t.encode("a é\n");
    expect(ids).toEqual([97, 32, 0xc3, 0xa9, 10]);
    expect(t.decode(ids)).toBe("a é\n");
    expect(ids.map((i) => t.label(i))).toEqual(["a", "␣", "\\xc3", "\\xa9", "↵"]);
    expect(t.label(1)).toBe("\\x01");
  });

  it("splits text into one piece per token; a multi-byte character lands on its last byte", () => {
    const t = byteTokenizer();
    expect(t.pieces([97, 32, 0xc3, 0xa9, 10])).toEqual(["a", " ", "", "é", "\n"]);
    // A truncated character at the end: the decoder's U+FFFD, as decode() prints it.
    expect(t.pieces([98, 0xc3])).toEqual(["b", "\ufffd"]);
    expect(t.pieces([98, 0xc3]).join("")).toBe(t.decode([98, 0xc3]));
    expect(t.pieces([])).toEqual([]);
    expect(tableTokenizer(["a", "b", "ab", " "]).pieces([2, 3, 0])).toEqual(["ab", " ", "a"]);
  });

  it("table tokenizer encodes longest match first and names unknown characters", () => {
    const t = tableTokenizer(["a", "b", "ab", " "]);
    expect(t.encode("ab a")).toEqual([2, 3, 0]);
    expect(t.decode([2, 3, 0])).toBe("ab a");
    expect(() => t.encode("c")).toThrow(/"c" is not in this model's vocabulary/);
  });

  it("reads the config's tokenizer field", () => {
    expect(tokenizerFromJson(undefined, 256).kind).toBe("byte");
    expect(tokenizerFromJson({ type: "byte" }, 300).vocabSize).toBe(300);
    expect(tokenizerFromJson({ vocab: ["x", "y"] }, 2).kind).toBe("table");
    const identity = Array.from({ length: 256 }, (_, i) => i);
    expect(tokenizerFromJson({ type: "byte", vocabSize: 256, encoding: "utf-8", idToByte: identity }, 256).kind).toBe("byte");
    expect(() => tokenizerFromJson({ type: "byte", idToByte: [1, 0, ...identity.slice(2)] }, 256)).toThrow(/identity/);
    expect(() => tokenizerFromJson({ type: "bpe" }, 256)).toThrow(/unknown type "bpe"/);
    expect(() => tokenizerFromJson(undefined, 100)).toThrow(/vocabSize >= 256/);
  });
});
