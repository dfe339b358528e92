import { describe, expect, it } from "vitest";
import { mulberry32 } from "@mixdepth/router";
import { sampleToken } from "./naive-decoder.js";
import { DEFAULT_SETTINGS } from "./sampling.js";

const logits = Float32Array.from([1, 3, 2, 0]);

describe("sampleToken", () => {
  it("temperature 0 is greedy, after the repetition penalty", () => {
    const s = { ...DEFAULT_SETTINGS, temperature: 0, repetitionPenalty: 1 };
    expect(sampleToken(logits, [], s, Math.random)).toBe(1);
    expect(sampleToken(logits, [1], { ...s, repetitionPenalty: 2 }, Math.random)).toBe(2); // 3/2 < 2
  });
  it("top-k 1 and tiny top-p keep only the best token; same seed, same draws", () => {
    const s = { ...DEFAULT_SETTINGS, repetitionPenalty: 1, temperature: 1 };
    expect(sampleToken(logits, [], { ...s, topK: 1, topP: 1 }, mulberry32(1))).toBe(1);
    expect(sampleToken(logits, [], { ...s, topK: 0, topP: 0.01 }, mulberry32(1))).toBe(1);
    const draw = (seed: number) => Array.from({ length: 20 }, ((r) => () => sampleToken(logits, [], { ...s, topK: 0, topP: 1 }, r))(mulberry32(seed)));
    expect(draw(7)).toEqual(draw(7));
    expect(new Set(draw(7)).size).toBeGreaterThan(1);
  });
});
