// Hand-computed parameter counts for the layout in the README (and @mixdepth/transformer's
// weight table), and the 6N approximations beside the exact training FLOPs.
import { describe, expect, it } from "vitest";
import { paramCounts, sixNApproximation } from "./params.js";
import { A, B, C, D, NO_COST, learned } from "./test-configs.js";

describe("paramCounts", () => {
  it("gpt2 layout (A)", () => {
    const p = paramCounts(A);
    // attention qkv 4*12 + 12, out 4*4 + 4 = 80; mlp 4*16 + 16 + 16*4 + 4 = 148; two LayerNorms 2*(4+4) = 16
    expect(p.blocks[0]).toEqual({ index: 0, attention: 80, mlp: 148, norms: 16, routing: 0, total: 244 });
    expect(p.finalNorm).toBe(8);
    expect(p.head).toBe(0); // tied
    expect(p.nonEmbedding).toBe(252); // 244 + 8
    expect(p.tokenEmbedding).toBe(40); // 10*4
    expect(p.positionEmbedding).toBe(12); // 3*4
    expect(p.embedding).toBe(52);
    expect(p.total).toBe(304);
  });

  it("llama layout with routers (C)", () => {
    const p = paramCounts(C, learned(C));
    // attention 4*8*8 = 256 (no biases); swiglu 3*8*24 = 576; two RMSNorm gains 16; router w 8, no predictor
    expect(p.blocks.map((b) => b.total)).toEqual([856, 856]);
    expect(p.positionEmbedding).toBe(0); // rotary
    expect(p.finalNorm).toBe(8);
    expect(p.total).toBe(1712 + 8 + 64); // blocks + final norm + token embedding 8*8
  });

  it("untied head, stochastic router without weights (D, with the cost the stochastic kind declares)", () => {
    const p = paramCounts(D, { routerCost: NO_COST });
    expect(p.blocks.map((b) => b.routing)).toEqual([0, 0]); // the stochastic router ignores routing.predictor
    expect(p.head).toBe(40); // d*V, no bias
    expect(p.nonEmbedding).toBe(2 * 244 + 8 + 40); // 536
    expect(p.embedding).toBe(40 + 16); // tokens 10*4, positions 4*4
    expect(p.total).toBe(592);
  });

  it("a declared router cost counts its params in routed blocks only", () => {
    const p = paramCounts(D, { routerCost: { params: 5, flopsPerToken: 0 } });
    expect(p.blocks.map((b) => b.routing)).toEqual([0, 5]);
    expect(p.total).toBe(592 + 5);
  });

  it("learned router and predictor (D with a learned router)", () => {
    const d = { ...D, routing: { ...D.routing, router: "learned" } };
    const p = paramCounts(d, learned(d));
    // router w [4,1] = 4; predictor w1 [4,2] + b1 [2] + w2 [2,1] + b2 [1] = 13
    expect(p.blocks[1]!.routing).toBe(17);
    expect(p.blocks[0]!.routing).toBe(0); // dense block: no router
  });

  it("the 12.5% every-other MoD (B)", () => {
    const p = paramCounts(B, learned(B));
    // block: attention 256*768 + 768 + 256*256 + 256 = 263,168; mlp 256*1024 + 1024 + 1024*256 + 256 = 525,568;
    // norms 2*512 = 1,024 -> 789,760; routed blocks add 256 + (256*128 + 128 + 128 + 1) = 33,281
    expect(p.blocks.map((b) => b.total)).toEqual([789_760, 823_041, 789_760, 823_041, 789_760, 823_041, 789_760, 823_041]);
    expect(p.nonEmbedding).toBe(6_451_716); // 8*789,760 + 4*33,281 + 512
    expect(p.embedding).toBe(131_072); // 256*256 + 256*256
    expect(p.total).toBe(6_582_788);
  });
});

describe("sixNApproximation", () => {
  it("beside the exact count (A)", () => {
    const a = sixNApproximation(A);
    expect(a.nonEmbeddingParams).toBe(252);
    expect(a.sixN).toBe(1512); // 6*252
    expect(a.kaplan).toBe(1584); // 1512 + 6*L*S*d = 1512 + 6*1*3*4
    expect(a.exact).toBe(1536); // 3 * 1536 / 3 tokens
    expect(a.difference).toBe(-24);
    expect(a.relativeDifference).toBe(-24 / 1536);
    expect(a.kaplanRelativeDifference).toBe(48 / 1536);
  });

  it("overstates MoD (B)", () => {
    const a = sixNApproximation(B, learned(B));
    expect(a.sixN).toBe(38_710_296); // 6*6,451,716
    expect(a.kaplan).toBe(41_856_024); // + 6*8*256*256 = 3,145,728
    expect(a.exact).toBe(25_617_408); // 3*2,186,018,816/256
    expect(a.relativeDifference).toBeCloseTo(13_092_888 / 25_617_408, 12);
  });
});

describe("paramCounts of mixture-of-experts MLPs", () => {
  it("router [d, E + N] plus every real expert's family MLP, in place of the dense MLP", () => {
    // A with an MoE MLP: 2 real + 1 no-op experts, hidden 8. Router 4*3 = 12; each gpt2 expert 4*8 + 8 + 8*4 + 4 = 76.
    const p = paramCounts({ ...A, experts: { count: 2, noop: 1, hidden: 8 } });
    expect(p.blocks[0]).toEqual({ index: 0, attention: 80, mlp: 12 + 2 * 76, norms: 16, routing: 0, total: 80 + 164 + 16 });
    // llama (C, both blocks routed: staged MoDE on block 1 only): router 8*4 = 32, 4 SwiGLU experts of hidden 24, 3*8*24 = 576 each.
    const q = paramCounts({ ...C, experts: { blocks: [1], count: 4 } }, learned(C));
    expect(q.blocks.map((b) => b.mlp)).toEqual([576, 32 + 4 * 576]);
    // The experts' causal predictor: w1 [4, 3] + b1 [3] + w2 [3, 2] + b2 [2] = 23.
    expect(paramCounts({ ...A, experts: { count: 2, noop: 1, hidden: 8, predictor: { hidden: 3 } } }).blocks[0]!.mlp).toBe(12 + 23 + 2 * 76);
  });
});
