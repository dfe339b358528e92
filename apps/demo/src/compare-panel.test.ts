import { describe, expect, it } from "vitest";
import { resolveModelConfig } from "@mixdepth/core";
import { denseCounterpart, linearRouterCost, samplingFlopsPerToken } from "@mixdepth/flops-accounting";
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
    const learned = { routerCost: linearRouterCost(64, { hidden: 32 }) }; // what the learned kind declares
    const expected = (samplingFlopsPerToken(mod, { position: 10, routedFraction: 0.125, ...learned }).perToken + samplingFlopsPerToken(mod, { position: 11, routedFraction: 0.125, ...learned }).perToken) / 2;
    expect(flopsPerToken(run, 2)).toBeCloseTo(expected, 6);
    const dense = flopsPerToken({ config: denseCounterpart(mod), routedFraction: 1, startPosition: 10 }, 2);
    expect(flopsPerToken(run, 2) / dense).toBeLessThan(0.7);
  });
  it("counts the stochastic control at its declared cost (no router FLOPs), by hand", () => {
    // llama V=8, d=8, H=2, L=2 (h = 24), block 1 routed at 0.5 by the stochastic control; the
    // first decode step (position 0), routed fraction 0.5. Dense block 0: qkv 2*8*24 = 384,
    // scores 2*1*8 = 16, values 16, out 2*8*8 = 128, MLP 2*8*24*3 = 1152 -> 1696. Routed block 1:
    // router 0 + 0.5 * 1696 = 848. Head 2*8*8 = 128. Total 2672 (a linear router would add 2*8 = 16).
    const config = resolveModelConfig({ vocabSize: 8, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 4, routing: { blocks: [1], capacity: 0.5, router: "stochastic", predictor: null } });
    expect(flopsPerToken({ config, routedFraction: 0.5, startPosition: 0 }, 1)).toBe(2672);
  });
});
