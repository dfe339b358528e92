// The host-side RNG: reproducible by seed, and Gaussian samples with the asked-for scale.
import { describe, expect, it } from "vitest";
import { gaussian, mulberry32 } from "./rng.js";

describe("mulberry32 / gaussian", () => {
  it("is reproducible by seed and differs across seeds", () => {
    const a = gaussian(mulberry32(42), 7);
    expect(Array.from(gaussian(mulberry32(42), 7))).toEqual(Array.from(a));
    expect(Array.from(gaussian(mulberry32(43), 7))).not.toEqual(Array.from(a));
    const u = mulberry32(1);
    for (let i = 0; i < 1000; i++) {
      const v = u();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });

  it("has mean ~0 and std ~std (n = 20000)", () => {
    const xs = gaussian(mulberry32(5), 20001, 0.5); // odd n exercises the unpaired last sample
    const mean = xs.reduce((s, v) => s + v, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sd - 0.5)).toBeLessThan(0.02);
    expect(xs.every(Number.isFinite)).toBe(true);
  });
});
