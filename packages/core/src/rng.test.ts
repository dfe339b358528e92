// The host-side RNG: known answers, reproducible by seed, and Gaussian samples with the
// asked-for scale. The known answers were computed independently of this code by a small
// Python reimplementation of mulberry32 and Box-Muller (Python integers with explicit 32-bit
// masks, float32 rounding via struct): /usr/bin/python3 packages/core/scripts/known-answers.py
import { describe, expect, it } from "vitest";
import { Mulberry32, gaussian, mulberry32 } from "./rng.js";

describe("mulberry32 / gaussian", () => {
  it.each([
    [0, [0.26642920868471265, 0.0003297457005828619, 0.2232720274478197, 0.1462021479383111]],
    [1, [0.6270739405881613, 0.002735721180215478, 0.5274470399599522, 0.9810509674716741]],
    [42, [0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693]],
    [4294967295, [0.8964226141106337, 0.189478256739676, 0.7156526781618595, 0.9440599093213677]],
  ])("known answers: the first draws of seed %d", (seed, draws) => {
    const u = mulberry32(seed);
    expect(draws.map(() => u())).toEqual(draws);
  });

  it("known answers: a negative seed is its uint32, the state advances by 0x6d2b79f5, Box-Muller values", () => {
    const neg = mulberry32(-1);
    expect([neg(), neg()]).toEqual([0.8964226141106337, 0.189478256739676]);
    const g = new Mulberry32(7);
    g.next();
    g.next();
    g.next();
    expect(g.state).toBe(1199730150);
    // float32 results; the last ulp may differ between libms, hence 1e-6.
    const expected = [-0.9561622142791748, 0.32207024097442627, -0.27302610874176025, -0.4946727454662323, -1.8416272401809692];
    Array.from(gaussian(mulberry32(42), 5)).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 6));
    const half = [0.061369676142930984, -0.426531046628952, -0.6224706768989563];
    Array.from(gaussian(mulberry32(5), 3, 0.5)).forEach((v, i) => expect(v).toBeCloseTo(half[i] as number, 6));
  });

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
