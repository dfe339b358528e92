// Hand-computed FLOPs and parameter counts; each number's derivation is in the comment.
import { describe, expect, it } from "vitest";
import { ConfigError, type ModelConfig } from "@mixdepth/core";
import { denseCounterpart, forwardFlops, modVsDense, prefillFlops, samplingFlopsPerToken, trainingFlops } from "./flops.js";
import { linearRouterCost } from "./router-cost.js";
import { A, B, C, D, NO_COST, learned } from "./test-configs.js";

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
    const f = forwardFlops(B, learned(B));
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
    const r = modVsDense(B, learned(B));
    expect(r.dense).toBe(8 * 469_762_048 + 33_554_432); // 3,791,650,816
    expect(r.ratio).toBeCloseTo(2_186_018_816 / 3_791_650_816, 12);
  });

  it("llama, every block routed at 50% (C)", () => {
    const f = forwardFlops(C, learned(C));
    // k=2: qkv 2*2*8*24=768, scores 2*4*8=64, values 64, out 2*2*8*8=256, swiglu 2*2*8*24*3=2304, router 2*4*8=64
    expect(f.blocks.map((b) => b.total)).toEqual([3520, 3520]);
    expect(f.head).toBe(512); // 2*4*8*8
    expect(f.total).toBe(7552);
  });

  it("stochastic control with an untied head (D, with the cost the stochastic kind declares)", () => {
    const f = forwardFlops(D, { routerCost: NO_COST });
    // dense block 0, S=4: qkv 2*4*4*12=384, scores 2*16*4=128, values 128, out 2*4*4*4=128, mlp 2*4*4*16*2=1024
    expect(f.blocks[0]!.total).toBe(1792);
    // routed block 1, k=round(0.5*4)=2: qkv 2*2*4*12=192, scores 2*4*4=32, values 32, out 2*2*4*4=64,
    // mlp 2*2*4*16*2=512; router 0 and predictor 0 (declared: the stochastic router has no weights)
    expect(f.blocks[1]).toMatchObject({ tokens: 2, qkv: 192, attentionScores: 32, attentionValues: 32, attentionOutput: 64, mlp: 512, router: 0, predictor: 0, total: 832 });
    expect(f.head).toBe(320); // 2*S*d*V = 2*4*4*10, untied head is still one matmul
    expect(f.total).toBe(2944); // 1792 + 832 + 320
    expect(f.perToken).toBe(736);
    const r = modVsDense(D, { routerCost: NO_COST });
    expect(r.dense).toBe(3904); // 2*1792 + 320
    expect(r.ratio).toBe(2944 / 3904);
  });

  it("the learned router's cost: its linear score and predictor on all S tokens", () => {
    const b = forwardFlops({ ...D, routing: { ...D.routing, router: "learned" } }, { routerCost: linearRouterCost(4, { hidden: 2 }) }).blocks[1]!;
    expect(b.router).toBe(32); // 2*S*d = 2*4*4
    expect(b.predictor).toBe(80); // 2*S*(d*h_p + h_p*1) = 2*4*(4*2 + 2), h_p = d/2 = 2
    expect(b.total).toBe(832 + 32 + 80);
    expect(linearRouterCost(4, { hidden: 2 })).toEqual({ params: 17, flopsPerToken: 8, predictorFlopsPerToken: 20 });
  });

  it("without a declared cost a routed config is an error naming the block and kind, never a silent default", () => {
    // The stochastic control used to be counted as a linear router this way (10,004 steps for 10,012).
    const need = /routerCost: is required: block 1 is routed \(routing\.router "stochastic"\)/;
    expect(() => forwardFlops(D)).toThrow(need);
    expect(() => trainingFlops(D)).toThrow(need);
    expect(() => samplingFlopsPerToken(D, { position: 1 })).toThrow(need);
    expect(() => prefillFlops(D, 2)).toThrow(need);
    expect(() => modVsDense(D)).toThrow(need);
    expect(forwardFlops({ ...D, routing: { blocks: "none" } }).total).toBe(3904); // dense: nothing to declare
  });

  it("a declared router cost: S x flopsPerToken per routed block, per block when a function", () => {
    const cost = { params: 9, flopsPerToken: 24, predictorFlopsPerToken: 6 };
    const b = forwardFlops(D, { routerCost: cost }).blocks[1]!;
    expect(b).toMatchObject({ router: 4 * 24, predictor: 4 * 6, total: 832 + 96 + 24 });
    const seen: number[] = [];
    const perBlock = forwardFlops({ ...D, routing: { ...D.routing, blocks: "all" } }, { routerCost: (i) => (seen.push(i), { params: 0, flopsPerToken: i + 1 }) });
    expect(seen).toEqual([0, 1]);
    expect(perBlock.blocks.map((x) => x.router)).toEqual([4 * 1, 4 * 2]);
    expect(forwardFlops(D, { routerCost: NO_COST }).blocks[0]!.router).toBe(0); // dense blocks have no router
  });

  it("rejects a malformed declared cost, naming the block and the field", () => {
    expect(() => forwardFlops(D, { routerCost: { params: 1, flopsPerToken: -2 } })).toThrow("routerCost (block 1).flopsPerToken: must be a finite number >= 0 (got -2)");
    expect(() => forwardFlops(D, { routerCost: { params: 1, flopsPerToken: 2, predictorFlopsPerToken: NaN } })).toThrow("routerCost (block 1).predictorFlopsPerToken: must be a finite number >= 0 (got NaN)");
    expect(() => forwardFlops(D, { routerCost: () => null as never })).toThrow(/routerCost \(block 1\): must be/);
  });

  it("denseCounterpart keeps the shape and drops routing", () => {
    const d = denseCounterpart(B);
    expect(d.layers.every((l) => !l.routed)).toBe(true);
    expect(d.routing.blocks).toEqual([]);
    expect(forwardFlops(d).total).toBe(3_791_650_816);
    expect(forwardFlops({ ...B, routing: { blocks: "none" } }).total).toBe(3_791_650_816);
  });

  it("counts causal-half attention as T(T+1)/2 pairs", () => {
    const b = forwardFlops(A, { attention: "causal-half" }).blocks[0]!;
    expect(b.attentionScores).toBe(48); // 2 * 6 pairs * 4
  });

  it("a shorter sequence scales k with it", () => {
    expect(forwardFlops(B, { ...learned(B), seqLen: 64 }).blocks[1]!.tokens).toBe(8);
    expect(() => forwardFlops(B, { seqLen: 257 })).toThrow(ConfigError);
    expect(() => forwardFlops(B, { seqLen: 257 })).toThrow("seqLen: must be an integer in [1, 256] (contextLength) (got 257)");
    expect(() => forwardFlops(B, { seqLen: 0 })).toThrow("seqLen: must be an integer in [1, 256] (contextLength) (got 0)");
    expect(() => forwardFlops(A, { attention: "half" as "full" })).toThrow('attention: must be "full" or "causal-half" (got "half")');
  });

  it("stochastic routing has no router FLOPs (as declared)", () => {
    const f = forwardFlops({ ...B, routing: { ...B.routing, router: "stochastic", predictor: null } }, { routerCost: NO_COST });
    expect(f.blocks[1]!.router).toBe(0);
    expect(f.blocks[1]!.predictor).toBe(0);
  });
});

describe("training and sampling", () => {
  it("training is 3x forward", () => {
    const t = trainingFlops(A);
    expect(t.forward).toBe(1536);
    expect(t.backward).toBe(3072); // 2 x forward
    expect(t.total).toBe(3 * 1536);
    expect(t.perToken).toBe(1536); // 4608 / 3 tokens
    // B: 3 * 2,186,018,816 = 6,558,056,448 per sequence, / 256 = 25,617,408 per token
    expect(trainingFlops(B, learned(B))).toMatchObject({ total: 6_558_056_448, perToken: 25_617_408 });
  });

  it("sampling per token with a KV cache (A at position 2)", () => {
    // one token, 3 keys: qkv 2*4*12=96, scores 2*3*4=24, values 24, out 32, mlp 2*4*16*2=256 -> 432; head 80
    expect(samplingFlopsPerToken(A, { position: 2 }).perToken).toBe(432 + 80);
  });

  it("sampling in a routed block scales with the routed fraction (C at position 2, p=0.5)", () => {
    // router 2*8=16; branch with 0.5*2+1=2 keys: qkv 2*8*24=384, scores 2*2*8=32, values 32, out 128, mlp 2*8*24*3=1152 -> 1728
    const s = samplingFlopsPerToken(C, { position: 2, routedFraction: 0.5, ...learned(C) });
    expect(s.blocks[0]!.expected).toBe(16 + 0.5 * 1728);
    expect(s.perToken).toBe(2 * (16 + 864) + 128);
  });

  it("sampling in the 12.5% every-other MoD (B at position 100)", () => {
    // dense block, 1 token, 101 keys: qkv 2*256*768 = 393,216; scores 2*101*256 = 51,712; values 51,712;
    // out 2*256*256 = 131,072; mlp 2*256*1024*2 = 1,048,576 -> 1,676,288
    // routed block, p = 0.125: 0.125*100 + 1 = 13.5 keys; scores = values = 2*13.5*256 = 6,912;
    // branch 393,216 + 2*6,912 + 131,072 + 1,048,576 = 1,586,688; router 2*256 = 512;
    // predictor 2*(256*128 + 128) = 65,792 -> 512 + 65,792 + 0.125*1,586,688 = 264,640
    // head 2*256*256 = 131,072; total 4*1,676,288 + 4*264,640 + 131,072 = 7,894,784
    const s = samplingFlopsPerToken(B, { position: 100, ...learned(B) });
    expect(s.causal).toBe("predictor");
    expect(s.routedFraction).toBe(0.125);
    expect(s.blocks.map((b) => b.expected)).toEqual([1_676_288, 264_640, 1_676_288, 264_640, 1_676_288, 264_640, 1_676_288, 264_640]);
    expect(s.perToken).toBe(7_894_784);
    // the threshold decision runs no predictor: 7,894,784 - 4*65,792
    expect(samplingFlopsPerToken(B, { position: 100, causal: "threshold", ...learned(B) }).perToken).toBe(7_631_616);
    // the dense model of the same shape: 8*1,676,288 + 131,072
    expect(samplingFlopsPerToken(denseCounterpart(B), { position: 100 }).perToken).toBe(13_541_376);
  });

  it("sampling uses the declared router cost: scores always, predictor only for causal \"predictor\"", () => {
    const cost = { params: 0, flopsPerToken: 100, predictorFlopsPerToken: 1000 };
    const base = samplingFlopsPerToken(B, { position: 100, causal: "threshold", routerCost: NO_COST }).perToken;
    expect(samplingFlopsPerToken(B, { position: 100, causal: "threshold", routerCost: cost }).perToken).toBe(base + 4 * 100);
    expect(samplingFlopsPerToken(B, { position: 100, causal: "predictor", routerCost: cost }).perToken).toBe(base + 4 * 1100);
  });

  it("sampling rejects impossible inputs naming the field", () => {
    expect(() => samplingFlopsPerToken(A, { position: -1 })).toThrow("position: must be an integer >= 0 (got -1)");
    expect(() => samplingFlopsPerToken(B, { position: 1, routedFraction: 1.2 })).toThrow("routedFraction: must be a number in [0, 1] (got 1.2)");
    expect(() => samplingFlopsPerToken(C, { position: 1, causal: "predictor" })).toThrow("causal: needs routing.predictor (it is null) (got \"predictor\")");
  });

  it("prefill is a forward pass over the prompt", () => {
    expect(prefillFlops(A, 3)).toBe(1536);
    expect(prefillFlops(B, 64, learned(B))).toBe(forwardFlops(B, { ...learned(B), seqLen: 64 }).total);
  });
});


describe("mixture-of-experts MLPs (docs/method.md section 6)", () => {
  // E: gpt2 d=4, H=2, L=1, S=4, h=16; MoE MLP with 2 real + 1 no-op experts, capacity 0.25, hidden 8.
  const E: ModelConfig = { family: "gpt2", vocabSize: 10, dModel: 4, nHeads: 2, nLayers: 1, contextLength: 4, mlpHidden: 16, experts: { count: 2, noop: 1, capacity: 0.25, hidden: 8 } };

  it("MoE (integrated MoDE): router on every token, each real expert on its k tokens, no-op experts free", () => {
    const b = forwardFlops(E).blocks[0]!;
    // router 2*4*4*3 = 96; k = round(0.25*4) = 1 per expert: 2 experts * 2*1*4*8*2 = 256
    expect(b.mlp).toBe(96 + 256);
    expect(b.qkv).toBe(2 * 4 * 4 * 12); // attention runs on every token
    expect(b.tokens).toBe(4);
  });

  it("staged MoDE: the experts see only the k tokens the MoD router let in", () => {
    const staged: ModelConfig = {
      family: "llama", vocabSize: 8, dModel: 8, nHeads: 2, nLayers: 1, contextLength: 4,
      routing: { blocks: "all", capacity: 0.5, predictor: null }, experts: { count: 2, capacity: 0.5, hidden: 4 },
    };
    const b = forwardFlops(staged, learned(staged)).blocks[0]!;
    // t = k = 2; router 2*2*8*2 = 64; each expert round(0.5*2) = 1 token, SwiGLU 2*1*8*4*3 = 192
    expect(b.tokens).toBe(2);
    expect(b.mlp).toBe(64 + 2 * 192);
    expect(b.router).toBe(2 * 4 * 8); // the MoD router on all S tokens
  });

  it("the experts' causal predictor: on every token in training, at sampling time only as the causal rule", () => {
    const P: ModelConfig = { ...E, experts: { ...E.experts, predictor: { hidden: 3 } } };
    // predictor 2*4*(4*3 + 3*2) = 144 on top of E's 352
    expect(forwardFlops(P).blocks[0]!.mlp).toBe(352 + 144);
    expect(samplingFlopsPerToken(P, { position: 0 }).blocks[0]!.expected).toBe(96 + 8 + 8 + 32 + 88 + 2 * (4 * 3 + 3 * 2));
    const threshold: ModelConfig = { ...E, experts: { ...E.experts, predictor: { hidden: 3 }, causal: "threshold" } };
    expect(samplingFlopsPerToken(threshold, { position: 0 }).blocks[0]!.expected).toBe(96 + 8 + 8 + 32 + 88);
  });

  it("sampling: the expert router on the token, each real expert with probability capacity", () => {
    const s = samplingFlopsPerToken(E, { position: 0 });
    // attention at t=0: qkv 96, scores 8, values 8, out 32; mlp 2*4*3 + 2 * 0.25 * (2*4*8*2) = 24 + 64
    expect(s.blocks[0]!.expected).toBe(96 + 8 + 8 + 32 + 88);
  });
});

describe("measured FLOPs (blockTokens) and the warm-up step", () => {
  it("blockTokens replaces each block's planned tokens; routers still cost all S tokens", () => {
    // C: both blocks routed at 0.5 of S = 4 -> k = 2 planned.
    expect(forwardFlops(C, { ...learned(C), blockTokens: [2, 2] })).toEqual(forwardFlops(C, learned(C)));
    const full = forwardFlops({ ...C, routing: { ...C.routing, capacity: 1 } }, learned(C));
    const m = forwardFlops(C, { ...learned(C), blockTokens: [4, 0] });
    expect(m.blocks[0]).toEqual(full.blocks[0]);
    // A block that took no token costs only its router: 2 * S * d = 2 * 4 * 8 = 64.
    expect(m.blocks[1]).toMatchObject({ tokens: 0, qkv: 0, attentionScores: 0, mlp: 0, router: 64, total: 64 });
    expect(m.total).toBe((full.blocks[0] as { total: number }).total + 64 + m.head);
  });

  it("rejects a blockTokens list of the wrong length or with a count past S, naming the entry", () => {
    expect(() => forwardFlops(C, { ...learned(C), blockTokens: [2] })).toThrow(/blockTokens/);
    expect(() => forwardFlops(C, { ...learned(C), blockTokens: [2, 5] })).toThrow(/blockTokens\[1\].*got 5/);
    expect(() => forwardFlops(C, { ...learned(C), step: -1 })).toThrow(/step/);
  });

  it("step counts the warm-up's capacity; without a warm-up the step changes nothing", () => {
    const W: ModelConfig = { ...C, routing: { ...C.routing, capacityWarmup: { steps: 10 } } };
    expect(forwardFlops(W, { ...learned(C), step: 0 }).total).toBe(forwardFlops({ ...C, routing: { ...C.routing, capacity: 1 } }, learned(C)).total);
    expect(forwardFlops(W, { ...learned(C), step: 10 })).toEqual(forwardFlops(C, learned(C)));
    expect(forwardFlops(W, learned(C))).toEqual(forwardFlops(C, learned(C)));
    expect(forwardFlops(C, { ...learned(C), step: 0 })).toEqual(forwardFlops(C, learned(C)));
  });
});
