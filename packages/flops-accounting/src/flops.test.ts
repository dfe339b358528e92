// Hand-computed FLOPs and parameter counts; each number's derivation is in the comment.
import { describe, expect, it } from "vitest";
import { ConfigError, resolveModelConfig, type ModelConfig } from "./model-config.js";
import { forwardFlops, modVsDense, prefillFlops, samplingFlopsPerToken, trainingFlops } from "./flops.js";
import { paramCounts, sixNApproximation } from "./params.js";
import { isoFlopSweep, planForBudget, planForSteps } from "./planner.js";

// A: dense gpt2, V=10, d=4, H=2, L=1, S=3, h=16.
const A: ModelConfig = { vocabSize: 10, dModel: 4, nHeads: 2, nLayers: 1, contextLength: 3, mlpHidden: 16 };
// B: the benchmark MoD config: d=256, L=8, H=8, S=256, V=256, capacity 0.125 every other block.
const B: ModelConfig = {
  vocabSize: 256, dModel: 256, nHeads: 8, nLayers: 8, contextLength: 256,
  routing: { blocks: "every-other", capacity: 0.125 },
};
// C: llama, V=8, d=8, H=2, L=2, S=4, all blocks routed at capacity 0.5, no predictor.
const C: ModelConfig = {
  vocabSize: 8, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 4, family: "llama",
  routing: { blocks: "all", capacity: 0.5, predictor: null },
};

describe("forwardFlops", () => {
  it("dense gpt2 (A)", () => {
    const f = forwardFlops(A);
    const b = f.blocks[0]!;
    expect(b.qkv).toBe(288); // 2*S*d*3d = 2*3*4*12
    expect(b.attentionScores).toBe(72); // 2*S^2*d = 2*9*4
    expect(b.attentionValues).toBe(72);
    expect(b.attentionOutput).toBe(96); // 2*3*4*4
    expect(b.mlp).toBe(768); // 2*S*d*h*2 = 2*3*4*16*2
    expect(b.total).toBe(1296);
    expect(f.head).toBe(240); // 2*S*d*V = 2*3*4*10
    expect(f.total).toBe(1536);
    expect(f.perToken).toBe(512);
  });

  it("12.5%-capacity every-other-block MoD (B)", () => {
    const f = forwardFlops(B);
    const dense = f.blocks[0]!;
    const routed = f.blocks[1]!;
    expect(dense.routed).toBe(false);
    // dense block, S=256: qkv 2*256*256*768 + scores/values/out 3 * 33,554,432 + mlp 2*256*256*1024*2
    expect(dense.total).toBe(100_663_296 + 3 * 33_554_432 + 268_435_456);
    expect(routed.tokens).toBe(32); // round(0.125*256)
    expect(routed.qkv).toBe(12_582_912); // 2*32*256*768
    expect(routed.attentionScores).toBe(524_288); // 2*32^2*256
    expect(routed.attentionOutput).toBe(4_194_304); // 2*32*256*256
    expect(routed.mlp).toBe(33_554_432); // 2*32*256*1024*2
    expect(routed.router).toBe(131_072); // 2*S*d = 2*256*256
    expect(routed.predictor).toBe(16_842_752); // 2*256*(256*128 + 128), hidden d/2
    expect(routed.total).toBe(68_354_048);
    expect(f.head).toBe(33_554_432);
    expect(f.total).toBe(4 * 469_762_048 + 4 * 68_354_048 + 33_554_432); // 2,186,018,816
    const r = modVsDense(B);
    expect(r.dense).toBe(8 * 469_762_048 + 33_554_432); // 3,791,650,816
    expect(r.ratio).toBeCloseTo(2_186_018_816 / 3_791_650_816, 12);
  });

  it("llama, every block routed at 50% (C)", () => {
    const f = forwardFlops(C);
    // k=2: qkv 2*2*8*24=768, scores 2*4*8=64, values 64, out 2*2*8*8=256, swiglu 2*2*8*24*3=2304, router 2*4*8=64
    expect(f.blocks.map((b) => b.total)).toEqual([3520, 3520]);
    expect(f.head).toBe(512); // 2*4*8*8
    expect(f.total).toBe(7552);
  });

  it("counts causal-half attention as T(T+1)/2 pairs", () => {
    const b = forwardFlops(A, { attention: "causal-half" }).blocks[0]!;
    expect(b.attentionScores).toBe(48); // 2 * 6 pairs * 4
  });

  it("a shorter sequence scales k with it", () => {
    expect(forwardFlops(B, { seqLen: 64 }).blocks[1]!.tokens).toBe(8);
    expect(() => forwardFlops(B, { seqLen: 257 })).toThrow(/seqLen: must be an integer in \[1, 256\] \(got 257\)/);
  });

  it("stochastic routing has no router FLOPs", () => {
    const f = forwardFlops({ ...B, routing: { ...B.routing, router: "stochastic", predictor: null } });
    expect(f.blocks[1]!.router).toBe(0);
    expect(f.blocks[1]!.predictor).toBe(0);
  });
});

describe("training and sampling", () => {
  it("training is 3x forward", () => {
    const t = trainingFlops(A);
    expect(t.total).toBe(3 * 1536);
    expect(t.perToken).toBe(1536);
  });

  it("sampling per token with a KV cache (A at position 2)", () => {
    // one token, 3 keys: qkv 2*4*12=96, scores 2*3*4=24, values 24, out 32, mlp 2*4*16*2=256 -> 432; head 80
    expect(samplingFlopsPerToken(A, { position: 2 }).perToken).toBe(432 + 80);
  });

  it("sampling in a routed block scales with the routed fraction (C at position 2, p=0.5)", () => {
    // router 2*8=16; branch with 0.5*2+1=2 keys: qkv 2*8*24=384, scores 2*2*8=32, values 32, out 128, mlp 2*8*24*3=1152 -> 1728
    const s = samplingFlopsPerToken(C, { position: 2, routedFraction: 0.5 });
    expect(s.blocks[0]!.expected).toBe(16 + 0.5 * 1728);
    expect(s.perToken).toBe(2 * (16 + 864) + 128);
  });

  it("prefill is a forward pass over the prompt", () => {
    expect(prefillFlops(A, 3)).toBe(1536);
  });
});

describe("parameters", () => {
  it("gpt2 layout (A)", () => {
    const p = paramCounts(A);
    // attention 4*12+12 + 16+4 = 80; mlp 4*16+16+16*4+4 = 148; two LayerNorms 2*(4+4) = 16
    expect(p.blocks[0]!.total).toBe(244);
    expect(p.nonEmbedding).toBe(252); // + final LayerNorm 8, head tied
    expect(p.embedding).toBe(52); // tokens 10*4 + positions 3*4
    expect(p.total).toBe(304);
  });

  it("llama layout with routers (C)", () => {
    const p = paramCounts(C);
    // attention 4*64 = 256; swiglu 3*8*24 = 576; two RMSNorms 16; router w 8
    expect(p.blocks.map((b) => b.total)).toEqual([856, 856]);
    expect(p.total).toBe(1712 + 8 + 64);
  });

  it("6N beside the exact count", () => {
    const a = sixNApproximation(A);
    expect(a.sixN).toBe(6 * 252);
    expect(a.exact).toBe(1536);
    expect(a.relativeDifference).toBeCloseTo((1512 - 1536) / 1536, 12);
  });
});

describe("isoFLOP planner", () => {
  it("gives each config floor(budget / flops per step) steps", () => {
    const plan = planForBudget(A, 10 * 4608 * 2 + 5, { batchSize: 2, seqLen: 3 });
    expect(plan.flopsPerStep).toBe(2 * 4608);
    expect(plan.steps).toBe(10);
    expect(plan.tokens).toBe(60);
    expect(planForSteps(A, 10, { batchSize: 2, seqLen: 3 }).flopsUsed).toBe(plan.flopsUsed);
  });

  it("sweeps dense, MoD and stochastic at one budget; MoD gets more steps", () => {
    const sweep = isoFlopSweep({
      budget: 1e12,
      setting: { batchSize: 8, seqLen: 256 },
      base: { vocabSize: 256, contextLength: 256 },
      sizes: [{ name: "d256", dModel: 256, nLayers: 8, nHeads: 8 }],
    });
    expect(sweep.map((e) => e.name)).toEqual(["d256-dense", "d256-mod12.5", "d256-stochastic12.5"]);
    const [dense, mod, stoch] = sweep;
    expect(mod!.plan.steps).toBeGreaterThan(dense!.plan.steps);
    expect(stoch!.plan.steps).toBeGreaterThanOrEqual(mod!.plan.steps);
    for (const e of sweep) expect(e.plan.flopsUsed).toBeLessThanOrEqual(1e12);
  });

  it("rejects a bad budget naming the field", () => {
    expect(() => planForBudget(A, -1, { batchSize: 1, seqLen: 3 })).toThrow(ConfigError);
    expect(() => planForBudget(A, 100, { batchSize: 0, seqLen: 3 })).toThrow(/batchSize: must be a positive integer \(got 0\)/);
  });
});

describe("resolveModelConfig", () => {
  it.each([
    [{ ...A, routing: { capacity: 0 } }, /routing\.capacity: must be in \(0, 1\] \(got 0\)/],
    [{ ...A, routing: { capacity: 1.5 } }, /routing\.capacity: must be in \(0, 1\] \(got 1\.5\)/],
    [{ ...A, nHeads: 3 }, /nHeads: must divide dModel=4 \(got 3\)/],
    [{ ...A, routing: { blocks: [0, 4] } }, /routing\.blocks\[1\]: must be an integer block index in \[0, 0\] \(got 4\)/],
    [{ ...A, vocabSize: 2.5 }, /vocabSize: must be a positive integer \(got 2\.5\)/],
    [{ ...A, family: "bert" }, /family: must be "gpt2" or "llama" \(got "bert"\)/],
    [{ ...A, routing: { predictor: null, causal: "predictor" } }, /routing\.causal: needs routing\.predictor/],
  ])("rejects %j", (cfg, msg) => {
    expect(() => resolveModelConfig(cfg as ModelConfig)).toThrow(msg);
  });

  it("fills documented defaults", () => {
    const r = resolveModelConfig(B);
    expect(r.family).toBe("gpt2");
    expect(r.mlpHidden).toBe(1024);
    expect(r.routing.blocks).toEqual([1, 3, 5, 7]);
    expect(r.routing.predictor).toEqual({ hidden: 128, weight: 1 });
    expect(r.routing.auxLoss).toEqual({ weight: 0.01 });
    expect(r.routing.causal).toBe("predictor");
    expect(resolveModelConfig(C).mlpHidden).toBe(24); // ceil(8*8/3 / 8) * 8
    expect(resolveModelConfig(A).routing.blocks).toEqual([]);
  });
});
