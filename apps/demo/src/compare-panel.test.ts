import { describe, expect, it } from "vitest";
import { resolveModelConfig } from "@mixdepth/core";
import { denseCounterpart } from "@mixdepth/flops-accounting";
import { flopsPerToken, median } from "./compare-panel.js";

const mod = resolveModelConfig({ vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 4, contextLength: 128, routing: { blocks: "every-other", capacity: 0.125 } });

describe("compare panel numbers", () => {
  it("median of odd and even lists, NaN when empty", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
  it("mean FLOPs per decode step over the run's positions, worked out by hand", () => {
    // Matmul FLOPs of one decode token at position P (the flops-accounting conventions, done by
    // hand): d = 64, SwiGLU hidden 176, tied head 2 d V = 32768.
    // A dense block: qkv 2 d 3d = 24576, output 2 d d = 8192, MLP 2 d 176 3 = 67584, attention
    //   scores + values 2 (2 (P + 1) d) = 256 (P + 1): 100352 + 256 (P + 1).
    // A routed block at realized fraction 0.125 (its branch runs for 1/8 of the tokens over the
    //   0.125 P + 1 keys it cached): router 2d = 128 and predictor 2 (d 32 + 32) = 4160 on every
    //   token (the learned router's declared cost), plus 0.125 (100352 + 256 (0.125 P + 1)).
    // P = 10: 2 * 103168 + 2 * (4288 + 12616) + 32768 = 272912
    // P = 11: 2 * 103424 + 2 * (4288 + 12620) + 32768 = 273432; their mean 273172.
    const run = { config: mod, routedFraction: 0.125, startPosition: 10 };
    expect(flopsPerToken(run, 2)).toBe(273172);
    // The dense counterpart: 4 dense blocks + head: (445440 + 446464) / 2.
    expect(flopsPerToken({ config: denseCounterpart(mod), routedFraction: 1, startPosition: 10 }, 2)).toBe(445952);
    // Positions past the context are clamped to its last one (P = 127: 4 * 133120 + 32768).
    expect(flopsPerToken({ config: denseCounterpart(mod), routedFraction: 1, startPosition: 127 }, 2)).toBe(565248);
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
