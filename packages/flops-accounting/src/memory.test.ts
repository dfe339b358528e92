// memoryEstimate by hand on config A, and the properties a trainer relies on.
import { describe, expect, it } from "vitest";
import { memoryEstimate } from "./memory.js";
import { paramCounts } from "./params.js";
import { A, B, D, learned } from "./test-configs.js";

describe("memoryEstimate", () => {
  it("config A, B=2, S=3 by hand", () => {
    // A: gpt2, V=10, d=4, H=2, L=1 dense, h=16. Per block per sequence: t=S=3 tokens,
    // 3 * (14*4 + 4*16) = 360, attention (2*2+1) * 9 = 45, scatter 2*3*4 = 24 -> 429; B=2 -> 858.
    // Final: 2 * 3 * (3*4 + 3*10) = 252. Floats 1110, x2 (backward), x4 bytes = 8880.
    const e = memoryEstimate(A, { batchSize: 2, seqLen: 3, evalBatches: 1 });
    expect(e.activationBytes).toBe(8880);
    expect(e.parameters).toBe(paramCounts(A).total);
    expect(e.parameterBytes).toBe(16 * paramCounts(A).total); // weights, grads, m, v
    expect(e.evalBytes).toBe(2 * 1 * 2 * 3 * 4);
    expect(e.total).toBe(e.parameterBytes + e.activationBytes + e.evalBytes);
    expect(memoryEstimate(A, { batchSize: 2, seqLen: 3, gradAccum: 2 }).parameterBytes).toBe(20 * paramCounts(A).total);
  });

  it("grows with every size a user can set, and routed blocks cost less than dense ones", () => {
    const base = memoryEstimate(B, { batchSize: 8, seqLen: 256, ...learned(B) }).total;
    for (const [cfg, setting] of [
      [{ ...B, dModel: 512 }, { batchSize: 8, seqLen: 256 }],
      [{ ...B, nLayers: 16 }, { batchSize: 8, seqLen: 256 }],
      [{ ...B, vocabSize: 50_000 }, { batchSize: 8, seqLen: 256 }],
      [B, { batchSize: 64, seqLen: 256 }],
    ] as const) {
      expect(memoryEstimate(cfg, { ...setting, ...learned(cfg) }).total).toBeGreaterThan(base);
    }
    const dense = memoryEstimate({ ...B, routing: { blocks: "none" } }, { batchSize: 8, seqLen: 256 });
    expect(memoryEstimate(B, { batchSize: 8, seqLen: 256, ...learned(B) }).activationBytes).toBeLessThan(dense.activationBytes);
  });

  it("counts the routers' declared parameters, and requires them for a routed config", () => {
    // D (test-configs.ts): 592 parameters without router weights; the linear router + predictor adds 17.
    const setting = { batchSize: 1, seqLen: 4 };
    expect(memoryEstimate(D, { ...setting, routerCost: { params: 0, flopsPerToken: 0 } }).parameters).toBe(592);
    expect(memoryEstimate(D, { ...setting, ...learned(D) }).parameters).toBe(592 + 17);
    expect(() => memoryEstimate(D, setting)).toThrow(/routerCost: is required: block 1 is routed \(routing\.router "stochastic"\)/);
  });
});

describe("memoryEstimate of MoE blocks and of the routing options' dearest step", () => {
  it("an MoE MLP by hand: A with 2 experts of hidden 8 at capacity 2/3, 1 no-op", () => {
    // Per sequence, t = 3: 3 * 14*4 = 168 (no dense MLP), attention 45, scatter 24;
    // experts: router 3 * 3 * (2 + 1) = 27, k = round(2/3 * 3) = 2 per expert,
    // 2 * 2 * (4*8 + 2*4) = 160 -> 424; B=2 -> 848. Final 252. Floats 1100, x2, x4 = 8800.
    const moe = { ...A, experts: { count: 2, noop: 1, capacity: 2 / 3, hidden: 8 } };
    expect(memoryEstimate(moe, { batchSize: 2, seqLen: 3 }).activationBytes).toBe(8800);
    // More experts at full capacity keep more than the dense MLP (4 experts x 3 tokens x hidden 16).
    const big = { ...A, experts: { count: 4, capacity: 1 } };
    expect(memoryEstimate(big, { batchSize: 2, seqLen: 3 }).activationBytes).toBeGreaterThan(memoryEstimate(A, { batchSize: 2, seqLen: 3 }).activationBytes);
  });

  it("a capacity warm-up or threshold training is sized for a step that processes every token", () => {
    const setting = { batchSize: 8, seqLen: 256, ...learned(B) };
    const full = memoryEstimate({ ...B, routing: { ...B.routing, capacity: 1 } }, setting).activationBytes;
    expect(memoryEstimate({ ...B, routing: { ...B.routing, capacityWarmup: { steps: 100 } } }, setting).activationBytes).toBe(full);
    expect(memoryEstimate({ ...B, routing: { blocks: "every-other", train: "threshold" } }, setting).activationBytes).toBe(full);
    expect(memoryEstimate(B, setting).activationBytes).toBeLessThan(full);
  });
});
