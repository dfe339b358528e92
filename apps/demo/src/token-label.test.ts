import { describe, expect, it } from "vitest";
import { byteTokenizer, tableTokenizer } from "@mixdepth/text";
import { tokenLabel } from "./token-label.js";

describe("tokenLabel", () => {
  it("labels bytes visibly: spaces and control characters, lone bytes of a character as \\xNN", () => {
    const t = byteTokenizer();
    expect(Array.from(t.encode("a é\n"), (i) => tokenLabel(t, i))).toEqual(["a", "␣", "\\xc3", "\\xa9", "↵"]);
    expect([1, 0x7f, 300].map((i) => tokenLabel(t, i))).toEqual(["\\x01", "\\x7f", "#300"]);
  });

  it("labels table tokens by their text", () => {
    const t = tableTokenizer(["ab", " x", "é\t"]);
    expect([0, 1, 2, 3].map((i) => tokenLabel(t, i))).toEqual(["ab", "␣x", "é⇥", "#3"]);
  });
});
