// The shared model config: validation names the field and quotes the value; defaults are the
// documented ones; routedTokens is the one k every package uses.
import { describe, expect, it } from "vitest";
import { ConfigError, capacityAt, expertsAt, resolveModelConfig, routedTokens, type ModelConfig } from "./model-config.js";

// A dense gpt2 config: V=10, d=4, H=2, L=1, S=3, h=16.
const A: ModelConfig = { family: "gpt2", vocabSize: 10, dModel: 4, nHeads: 2, nLayers: 1, contextLength: 3, mlpHidden: 16 };

const M: ModelConfig = { family: "gpt2", vocabSize: 10, dModel: 8, nHeads: 2, nLayers: 4, contextLength: 8, routing: {} };

describe("resolveModelConfig rejects impossible configs, naming field and value", () => {
  it.each<[string, unknown, string, unknown]>([
    // [case, config, field, value]
    ["capacity 0", { ...M, routing: { capacity: 0 } }, "routing.capacity", 0],
    ["capacity above 1", { ...M, routing: { capacity: 1.5 } }, "routing.capacity", 1.5],
    ["negative capacity", { ...M, routing: { capacity: -0.125 } }, "routing.capacity", -0.125],
    ["NaN capacity", { ...M, routing: { capacity: NaN } }, "routing.capacity", NaN],
    ["capacity as a string", { ...M, routing: { capacity: "0.5" } }, "routing.capacity", "0.5"],
    ["heads not dividing width", { ...A, nHeads: 3 }, "nHeads", 3],
    ["zero heads", { ...A, nHeads: 0 }, "nHeads", 0],
    ["llama with an odd head size", { ...A, dModel: 6, nHeads: 2, family: "llama" }, "nHeads", 2],
    ["block index past the end", { ...A, routing: { blocks: [0, 4] } }, "routing.blocks[1]", 4],
    ["negative block index", { ...M, routing: { blocks: [-1] } }, "routing.blocks[0]", -1],
    ["fractional block index", { ...M, routing: { blocks: [1, 1.5] } }, "routing.blocks[1]", 1.5],
    ["block listed twice", { ...M, routing: { blocks: [3, 1, 3] } }, "routing.blocks[2]", 3],
    ["unknown blocks keyword", { ...M, routing: { blocks: "odd" } }, "routing.blocks", "odd"],
    ["fractional vocab", { ...A, vocabSize: 2.5 }, "vocabSize", 2.5],
    ["vocab as a string", { ...A, vocabSize: "10" }, "vocabSize", "10"],
    ["zero width", { ...A, dModel: 0 }, "dModel", 0],
    ["negative depth", { ...A, nLayers: -1 }, "nLayers", -1],
    ["a depth past MODEL_LIMITS (a typo that would take minutes to resolve)", { ...A, nLayers: 100_000_000 }, "nLayers", 100_000_000],
    ["a vocabulary past MODEL_LIMITS", { ...A, vocabSize: 50_000_000 }, "vocabSize", 50_000_000],
    ["a width past MODEL_LIMITS", { ...A, dModel: 32_768, nHeads: 2 }, "dModel", 32_768],
    ["an MLP past MODEL_LIMITS", { ...A, mlpHidden: 65_537 }, "mlpHidden", 65_537],
    ["a context past MODEL_LIMITS", { ...A, contextLength: 65_537 }, "contextLength", 65_537],
    ["a predictor past MODEL_LIMITS", { ...M, routing: { predictor: { hidden: 65_537 } } }, "routing.predictor.hidden", 65_537],
    ["missing context length", { ...A, contextLength: undefined }, "contextLength", undefined],
    ["zero MLP hidden", { ...A, mlpHidden: 0 }, "mlpHidden", 0],
    ["unknown family", { ...A, family: "bert" }, "family", "bert"],
    ["tieEmbeddings not boolean", { ...A, tieEmbeddings: "yes" }, "tieEmbeddings", "yes"],
    ["normEps 0", { ...A, normEps: 0 }, "normEps", 0],
    ["ropeBase 1", { ...A, ropeBase: 1 }, "ropeBase", 1],
    ["empty router kind", { ...M, routing: { router: "" } }, "routing.router", ""],
    ["routerOptions array", { ...M, routing: { routerOptions: [1] } }, "routing.routerOptions", [1]],
    ["negative aux weight", { ...M, routing: { auxLoss: { weight: -1 } } }, "routing.auxLoss.weight", -1],
    ["zero predictor hidden", { ...M, routing: { predictor: { hidden: 0 } } }, "routing.predictor.hidden", 0],
    ["infinite predictor weight", { ...M, routing: { predictor: { weight: Infinity } } }, "routing.predictor.weight", Infinity],
    ["unknown causal mode", { ...M, routing: { causal: "sometimes" } }, "routing.causal", "sometimes"],
    ["predictor causal without predictor", { ...M, routing: { predictor: null, causal: "predictor" } }, "routing.causal", "predictor"],
    ["warm-up of 0 steps", { ...M, routing: { capacityWarmup: { steps: 0 } } }, "routing.capacityWarmup.steps", 0],
    ["fractional warm-up", { ...M, routing: { capacityWarmup: { steps: 2.5 } } }, "routing.capacityWarmup.steps", 2.5],
    ["warm-up with a typo", { ...M, routing: { capacityWarmup: { step: 10 } } }, "routing.capacityWarmup.step", 10],
    ["unknown train routing", { ...M, routing: { train: "top-p" } }, "routing.train", "top-p"],
    ["threshold 1", { ...M, routing: { train: "threshold", threshold: 1 } }, "routing.threshold", 1],
    ["threshold 0", { ...M, routing: { train: "threshold", threshold: 0 } }, "routing.threshold", 0],
    ["threshold without threshold training", { ...M, routing: { threshold: 0.7 } }, "routing.threshold", 0.7],
    ["threshold training with an aux BCE", { ...M, routing: { train: "threshold", auxLoss: { weight: 0.1 } } }, "routing.auxLoss", { weight: 0.1 }],
    ["threshold training with a predictor", { ...M, routing: { train: "threshold", predictor: {} } }, "routing.predictor", {}],
    ["threshold training with causal predictor", { ...M, routing: { train: "threshold", causal: "predictor" } }, "routing.causal", "predictor"],
    ["threshold training with a warm-up", { ...M, routing: { train: "threshold", capacityWarmup: { steps: 4 } } }, "routing.capacityWarmup", { steps: 4 }],
    ["null config", null, "config", null],
    ["unknown top-level field", { ...A, dmodel: 8 }, "dmodel", 8],
    ["typo inside routing", { ...M, routing: { capacty: 0.5 } }, "routing.capacty", 0.5],
    ["typo inside routing.predictor", { ...M, routing: { predictor: { hiden: 4 } } }, "routing.predictor.hiden", 4],
    ["typo inside routing.auxLoss", { ...M, routing: { auxLoss: { wieght: 1 } } }, "routing.auxLoss.wieght", 1],
    ["__proto__ at the top (as JSON.parse makes it)", JSON.parse('{"vocabSize":10,"dModel":4,"nHeads":2,"nLayers":1,"contextLength":3,"__proto__":{"x":1}}'), "__proto__", { x: 1 }],
    ["__proto__ inside routing", { ...M, routing: JSON.parse('{"__proto__":{"capacity":0.5}}') }, "routing.__proto__", { capacity: 0.5 }],
    ["constructor inside routing", { ...M, routing: { constructor: 1 } }, "routing.constructor", 1],
    ["__proto__ inside routerOptions", { ...M, routing: { routerOptions: JSON.parse('{"__proto__":{"a":1}}') } }, "routing.routerOptions.__proto__", { a: 1 }],
    ["routing not an object", { ...M, routing: "all" }, "routing", "all"],
    ["config an array", [], "config", []],
  ])("%s", (_case, config, field, value) => {
    let err: unknown;
    try {
      resolveModelConfig(config as ModelConfig);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect(ce.name).toBe("ConfigError");
    expect(ce.field).toBe(field);
    expect(ce.value).toEqual(value);
    expect(ce.message.startsWith(`${field}: ${ce.reason} (got `)).toBe(true);
  });

  it("messages read well, NaN and Infinity included", () => {
    expect(() => resolveModelConfig({ ...M, routing: { capacity: 1.5 } })).toThrow("routing.capacity: must be in (0, 1] (got 1.5)");
    expect(() => resolveModelConfig({ ...M, routing: { capacity: NaN } })).toThrow("routing.capacity: must be in (0, 1] (got NaN)");
    expect(() => resolveModelConfig({ ...A, nHeads: 3 })).toThrow("nHeads: must divide dModel=4 (got 3)");
    expect(() => resolveModelConfig({ ...A, routing: { blocks: [0, 4] } })).toThrow(
      "routing.blocks[1]: must be an integer block index in [0, 0] (got 4)",
    );
    expect(() => resolveModelConfig({ ...A, family: "bert" as "gpt2" })).toThrow('family: must be "gpt2" or "llama" (got "bert")');
  });
});

describe("resolveModelConfig defaults", () => {
  it("no routing means dense", () => {
    const r = resolveModelConfig(A);
    expect(r.routing.blocks).toEqual([]);
    expect(r.layers).toEqual([{ index: 0, routed: false, capacity: 1 }]);
    expect(r.family).toBe("gpt2");
    expect(r.mlpKind).toBe("gelu");
    expect(r.headDim).toBe(2);
    expect(r.tieEmbeddings).toBe(true);
    expect(r.normEps).toBe(1e-5);
    expect(r.ropeBase).toBe(10000);
  });

  it("an empty routing object is the paper's best: every other block at 12.5 %", () => {
    const r = resolveModelConfig(M);
    expect(r.routing.blocks).toEqual([1, 3]);
    expect(r.routing.capacity).toBe(0.125);
    expect(r.routing.router).toBe("learned");
    expect(r.routing.auxLoss).toEqual({ weight: 0.01 });
    expect(r.routing.predictor).toEqual({ hidden: 4, weight: 1 }); // d/2
    expect(r.routing.causal).toBe("predictor");
    expect(r.layers.map((l) => [l.routed, l.capacity])).toEqual([
      [false, 1],
      [true, 0.125],
      [false, 1],
      [true, 0.125],
    ]);
  });

  it("without a predictor the causal decision is the threshold", () => {
    expect(resolveModelConfig({ ...M, routing: { predictor: null } }).routing.causal).toBe("threshold");
  });

  it("a custom router kind has no predictor unless it asks for one (so its causal rule is the threshold)", () => {
    const custom = resolveModelConfig({ ...M, routing: { router: "l2-norm" } }).routing;
    expect([custom.predictor, custom.causal]).toEqual([null, "threshold"]);
    const asked = resolveModelConfig({ ...M, routing: { router: "l2-norm", predictor: {} } }).routing;
    expect([asked.predictor, asked.causal]).toEqual([{ hidden: 4, weight: 1 }, "predictor"]);
    for (const kind of ["learned", "stochastic"]) expect(resolveModelConfig({ ...M, routing: { router: kind } }).routing.causal).toBe("predictor");
  });

  it('"all", explicit lists (sorted) and "none"', () => {
    expect(resolveModelConfig({ ...M, routing: { blocks: "all" } }).routing.blocks).toEqual([0, 1, 2, 3]);
    expect(resolveModelConfig({ ...M, routing: { blocks: [3, 0] } }).routing.blocks).toEqual([0, 3]);
    expect(resolveModelConfig({ ...M, routing: { blocks: "none" } }).layers.every((l) => !l.routed)).toBe(true);
  });

  it("MLP hidden: 4d for gpt2, 8d/3 rounded up to a multiple of 8 for llama", () => {
    expect(resolveModelConfig({ ...M, dModel: 256, nHeads: 8 }).mlpHidden).toBe(1024);
    // 8*256/3 = 682.67 -> /8 = 85.33 -> ceil 86 -> 688
    const llama = resolveModelConfig({ ...M, dModel: 256, nHeads: 8, family: "llama" });
    expect(llama.mlpHidden).toBe(688);
    expect(llama.mlpKind).toBe("swiglu");
  });

  it("copies routerOptions and leaves the input alone", () => {
    const opts = { temperature: 1 };
    const input: ModelConfig = { ...M, routing: { routerOptions: opts } };
    const before = JSON.stringify(input);
    const r = resolveModelConfig(input);
    expect(r.routing.routerOptions).toEqual(opts);
    expect(r.routing.routerOptions).not.toBe(opts);
    expect(JSON.stringify(input)).toBe(before);
  });
});

describe("routedTokens", () => {
  it.each([
    [0.125, 256, 32], // 0.125*256 = 32
    [0.125, 64, 8],
    [0.125, 3, 1], // round(0.375) = 0, clamped to 1
    [0.5, 3, 2], // round(1.5) = 2
    [0.99, 3, 3], // round(2.97) = 3
    [1, 5, 5],
    [0.2, 1, 1],
  ])("capacity %d of %d tokens is %d", (capacity, seqLen, k) => {
    expect(routedTokens(capacity, seqLen)).toBe(k);
  });
});

describe("experts (MoE / MoDE MLPs)", () => {
  it.each<[string, unknown, string, unknown]>([
    ["zero experts", { count: 0 }, "experts.count", 0],
    ["fractional experts", { count: 1.5 }, "experts.count", 1.5],
    ["negative no-op experts", { noop: -1 }, "experts.noop", -1],
    ["capacity 0", { capacity: 0 }, "experts.capacity", 0],
    ["capacity as a string", { capacity: "0.5" }, "experts.capacity", "0.5"],
    ["hidden 0", { hidden: 0 }, "experts.hidden", 0],
    ["unknown routing", { routing: "hash" }, "experts.routing", "hash"],
    ["block out of range", { blocks: [9] }, "experts.blocks[0]", 9],
    ["bad blocks", { blocks: "some" }, "experts.blocks", "some"],
    ["negative aux weight", { auxLoss: { weight: -1 } }, "experts.auxLoss.weight", -1],
    ["unknown field", { experts: 2 }, "experts.experts", 2],
    ["balance loss with expert choice", { balanceLoss: { weight: 0.1 } }, "experts.balanceLoss", { weight: 0.1 }],
    ["aux BCE with token choice", { routing: "token-choice", auxLoss: { weight: 0.1 } }, "experts.auxLoss", { weight: 0.1 }],
    ["negative balance weight", { routing: "token-choice", balanceLoss: { weight: -2 } }, "experts.balanceLoss.weight", -2],
    ["predictor with token choice", { routing: "token-choice", predictor: {} }, "experts.predictor", {}],
    ["predictor hidden 0", { predictor: { hidden: 0 } }, "experts.predictor.hidden", 0],
    ["causal predictor without one", { causal: "predictor" }, "experts.causal", "predictor"],
    ["unknown causal rule", { causal: "oracle" }, "experts.causal", "oracle"],
    ["z-loss without a weight", { zLoss: {} }, "experts.zLoss.weight", undefined],
  ])("%s", (_, experts, field, value) => {
    try {
      resolveModelConfig({ ...M, experts } as ModelConfig);
      expect.unreachable("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(field);
      expect((err as ConfigError).value).toEqual(value);
      expect((err as Error).message).toContain(field);
    }
  });

  it("defaults: every block, 4 experts at capacity 1/4, no no-op, hidden = mlpHidden; absent means null", () => {
    expect(resolveModelConfig(M).experts).toBeNull();
    const r = resolveModelConfig({ ...M, experts: {} });
    expect(r.experts).toEqual({ blocks: [0, 1, 2, 3], count: 4, noop: 0, capacity: 0.25, hidden: r.mlpHidden, routing: "expert-choice", auxLoss: { weight: 0.01 }, balanceLoss: null, predictor: null, causal: "threshold", zLoss: null });
    const p = resolveModelConfig({ ...M, experts: { predictor: {} } });
    expect([p.experts?.predictor, p.experts?.causal]).toEqual([{ hidden: 4, weight: 1 }, "predictor"]);
    const t = resolveModelConfig({ ...M, experts: { routing: "token-choice", count: 2 } });
    expect([t.experts?.auxLoss, t.experts?.balanceLoss, t.experts?.capacity]).toEqual([null, { weight: 0.01 }, 0.5]);
    const i = resolveModelConfig({ ...M, experts: { blocks: "every-other", count: 2, noop: 2, auxLoss: null } });
    expect(i.experts?.capacity).toBe(0.5); // 1 / count of REAL experts, never 1 / (count + noop)
    expect([0, 1, 2, 3].map((b) => expertsAt(i, b) !== null)).toEqual([false, true, false, true]);
    expect(i.experts?.auxLoss).toBeNull();
  });
});

describe("routing options of the follow-ups (off by default)", () => {
  it("defaults: top-k training, no warm-up", () => {
    // Absent when off: a config without them resolves exactly as before they existed.
    const r = resolveModelConfig(M).routing;
    expect(["train", "capacityWarmup", "threshold"].filter((k) => k in r)).toEqual([]);
  });

  it("threshold training drops the aux BCE and the predictor and routes causally by the threshold", () => {
    const r = resolveModelConfig({ ...M, routing: { train: "threshold", threshold: 0.6 } }).routing;
    expect([r.train, r.threshold, r.auxLoss, r.predictor, r.causal]).toEqual(["threshold", 0.6, null, null, "threshold"]);
  });

  it("capacityAt: a cosine from 1 to the target over the warm-up, the target after it and without a step", () => {
    const routing = resolveModelConfig({ ...M, routing: { capacity: 0.25, capacityWarmup: { steps: 4 } } }).routing;
    // By hand: 0.25 + 0.75 * (1 + cos(pi t / 4)) / 2 for t = 0..3.
    const want = [1, 0.25 + 0.375 * (1 + Math.SQRT1_2), 0.625, 0.25 + 0.375 * (1 - Math.SQRT1_2), 0.25, 0.25];
    [0, 1, 2, 3, 4, 100].forEach((t, i) => expect(capacityAt(routing, t)).toBeCloseTo(want[i] as number, 12));
    expect(capacityAt(routing)).toBe(0.25);
    expect(capacityAt(resolveModelConfig(M).routing, 0)).toBe(0.125); // no warm-up: the target at every step
    expect(() => capacityAt(routing, -1)).toThrow(/step/);
  });
});
