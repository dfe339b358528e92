import { describe, expect, it } from "vitest";
import { argmax, createRng, sampleIndex } from "./rng.js";

describe("seeded sampling", () => {
  it("the same seed gives the same stream; different seeds differ", () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(() => createRng(1.5)).toThrow(/seed/);
  });

  it("sampleIndex follows the weights and never picks a zero weight", () => {
    const rng = createRng(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleIndex([0.5, 0, 0.25, 0.25], rng)]!++;
    expect(counts[1]).toBe(0);
    expect(counts[0]! / 20000).toBeCloseTo(0.5, 1);
    expect(counts[2]! / 20000).toBeCloseTo(0.25, 1);
    expect(sampleIndex([0, 0, 3], createRng(5))).toBe(2);
    expect(() => sampleIndex([0, 0], rng)).toThrow(/no positive/);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });
});
