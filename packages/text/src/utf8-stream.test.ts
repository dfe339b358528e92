// Streaming UTF-8: a character split across byte tokens is emitted once, when complete. The
// sampler's case, "ab café ü!", used to print as "ab caf\uFFFDab café \uFFFDab café ü!".
import { describe, expect, it } from "vitest";
import { heldBackDelta, Utf8Stream } from "./utf8-stream.js";

const TEXT = "ab café ü! € 😀";
const BYTES = [...new TextEncoder().encode(TEXT)];

describe("Utf8Stream", () => {
  it("holds back incomplete characters and emits each once", () => {
    const s = new Utf8Stream();
    const deltas = BYTES.map((b) => s.push([b]));
    expect(deltas.join("") + s.flush()).toBe(TEXT);
    expect(deltas.slice(6, 8)).toEqual(["", "é"]); // "é" is two bytes: nothing, then the character
    expect(deltas.some((d) => d.includes("\uFFFD"))).toBe(false);
  });

  it("turns a truncated sequence into one U+FFFD at the end, and invalid bytes into U+FFFD once", () => {
    const s = new Utf8Stream();
    expect(s.push([0x61, 0xc3])).toBe("a");
    expect(s.flush()).toBe("\uFFFD");
    expect(s.push([0xff]) + s.push([0x62])).toBe("\uFFFDb");
  });

  it("heldBackDelta never repeats emitted text", () => {
    expect(heldBackDelta("ab caf\uFFFD", "ab ", false)).toBe("caf");
    expect(heldBackDelta("ab café", "ab caf", false)).toBe("é");
    expect(heldBackDelta("ab caf\uFFFD", "ab caf", true)).toBe("\uFFFD");
  });
});
