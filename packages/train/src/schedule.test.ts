// The warmup + cosine schedule against values worked out by hand.
import { describe, expect, it } from "vitest";
import { learningRate } from "./schedule.js";

describe("learning rate", () => {
  it("warms up linearly then follows a cosine down to minLr at the last step", () => {
    const s = { lr: 1, minLr: 0.1, warmupSteps: 2, steps: 6 };
    // decay spans steps 2..5 (3 intervals): progress 0, 1/3, 2/3, 1.
    expect([0, 1, 2, 3, 4, 5].map((i) => learningRate(s, i))).toEqual([
      0.5,
      1,
      1,
      expect.closeTo(0.1 + 0.45 * (1 + Math.cos(Math.PI / 3)), 12), // 0.775
      expect.closeTo(0.1 + 0.45 * (1 + Math.cos((2 * Math.PI) / 3)), 12), // 0.325
      expect.closeTo(0.1, 12),
    ]);
  });
});
