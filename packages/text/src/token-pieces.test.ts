import { describe, expect, it } from "vitest";
import { byteTokenizer } from "./byte-tokenizer.js";
import { tableTokenizer } from "./table-tokenizer.js";
import { tokenPieces } from "./token-pieces.js";

describe("tokenPieces", () => {
  it("one piece per token; a multi-byte character lands on its last byte; joined, the decoded text", () => {
    const t = byteTokenizer();
    expect(tokenPieces(t, [97, 32, 0xc3, 0xa9, 10])).toEqual(["a", " ", "", "é", "\n"]);
    // A truncated character at the end: the decoder's U+FFFD, as decode() prints it.
    expect(tokenPieces(t, [98, 0xc3])).toEqual(["b", "\ufffd"]);
    expect(tokenPieces(t, [98, 0xc3]).join("")).toBe(t.decode([98, 0xc3]));
    expect(tokenPieces(t, [])).toEqual([]);
    expect(tokenPieces(tableTokenizer(["a", "b", "ab", " "]), [2, 3, 0])).toEqual(["ab", " ", "a"]);
  });
});
