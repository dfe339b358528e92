import { describe, expect, it } from "vitest";
import { resolveModelConfig } from "@mixdepth/core";
import { denseCounterpart, samplingFlopsPerToken } from "@mixdepth/flops-accounting";
import { flopsPerToken, median } from "./compare-panel.js";

const mod = resolveModelConfig({ vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 4, contextLength: 128, routing: { blocks: "every-other", capacity: 0.125 } });

describe("compare panel numbers", () => {
  it("median of odd and even lists, NaN when empty", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
  it("mean FLOPs per decode step over the run's positions, from flops-accounting", () => {
    const run = { config: mod, routedFraction: 0.125, startPosition: 10 };
    const expected = (samplingFlopsPerToken(mod, { position: 10, routedFraction: 0.125 }).perToken + samplingFlopsPerToken(mod, { position: 11, routedFraction: 0.125 }).perToken) / 2;
    expect(flopsPerToken(run, 2)).toBeCloseTo(expected, 6);
    const dense = flopsPerToken({ config: denseCounterpart(mod), routedFraction: 1, startPosition: 10 }, 2);
    expect(flopsPerToken(run, 2) / dense).toBeLessThan(0.7);
  });
});
