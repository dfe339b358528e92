// The table tokenizer: longest match first, unknown characters named, its JSON, and bytes per
// token for tokens of different lengths.
import { describe, expect, it } from "vitest";
import { tableTokenizer } from "./table-tokenizer.js";

describe("tableTokenizer", () => {
  it("encodes longest match first and names unknown characters", () => {
    const t = tableTokenizer(["a", "b", "ab", " "]);
    expect(Array.from(t.encode("ab a"))).toEqual([2, 3, 0]);
    expect(t.decode([2, 3, 0])).toBe("ab a");
    expect(() => t.encode("c")).toThrow(/character "c" is not in this model's vocabulary/);
    expect(t.toJSON()).toEqual({ type: "table", vocab: ["a", "b", "ab", " "] });
  });

  it("gives each token its UTF-8 bytes; bytes per token is their mean over the vocabulary", () => {
    const t = tableTokenizer(["a", "é", "€"]); // 1, 2 and 3 bytes
    expect(t.tokenBytes(1)).toEqual([0xc3, 0xa9]);
    expect(t.tokenBytes(7)).toEqual([]);
    expect(t.bytesPerToken()).toBe(2);
    const d = t.decoder();
    expect([2, 0, 1].map((id) => d.push(id))).toEqual(["€", "a", "é"]);
  });

  it("refuses an empty table, empty or repeated entries; tables differ in id", () => {
    expect(() => tableTokenizer([])).toThrow(/vocab must be a non-empty list of strings \(got \[\]\)/);
    expect(() => tableTokenizer(["a", ""])).toThrow(/vocab\[1\] must be a non-empty string \(got ""\)/);
    expect(() => tableTokenizer(["a", "b", "a"])).toThrow(/vocab\[2\] "a" repeats vocab\[0\]/);
    expect(tableTokenizer(["a", "b"]).id).not.toBe(tableTokenizer(["b", "a"]).id);
  });
});
