// isoFLOP planning: steps = floor(budget / FLOPs per step), and the sweep the trainer runs.
import { describe, expect, it } from "vitest";
import { ConfigError, type ResolvedModelConfig } from "@mixdepth/core";
import { flopsPerStep, isoFlopSweep, planForBudget, planForSteps, runFlops } from "./planner.js";
import { linearRouterCost } from "./router-cost.js";
import { A, B, D, NO_COST, learned } from "./test-configs.js";

// A (test-configs.ts): forward 1536 per sequence, training 4608.
// B (test-configs.ts), the 12.5% every-other MoD: training 6,558,056,448 per sequence.

describe("planForBudget / planForSteps", () => {
  it("gives a config floor(budget / flops per step) steps (A)", () => {
    const plan = planForBudget(A, 10 * 9216 + 5, { batchSize: 2, seqLen: 3 });
    expect(plan.flopsPerStep).toBe(9216); // 2 sequences * 4608
    expect(plan.steps).toBe(10);
    expect(plan.tokens).toBe(60); // 10 * 2 * 3
    expect(plan.flopsUsed).toBe(92_160);
    expect(planForSteps(A, 10, { batchSize: 2, seqLen: 3 })).toEqual(plan);
  });

  it("the benchmark MoD at a 1e15 budget (B)", () => {
    // per step 8 * 6,558,056,448 = 52,464,451,584; 1e15 / that = 19,060.53 -> 19,060 steps
    const plan = planForBudget(B, 1e15, { batchSize: 8, seqLen: 256, ...learned(B) });
    expect(plan).toEqual({ flopsPerStep: 52_464_451_584, steps: 19_060, tokens: 39_034_880, flopsUsed: 999_972_447_191_040 });
  });

  it("gradient accumulation and shorter sequences", () => {
    expect(flopsPerStep(A, { batchSize: 2, seqLen: 3, gradAccum: 4 })).toBe(8 * 4608);
    // S=2: qkv 2*2*4*12 = 192, scores 2*4*4 = 32, values 32, out 64, mlp 2*2*4*16*2 = 512, head 2*2*4*10 = 160 -> 992; x3
    expect(flopsPerStep(A, { batchSize: 1, seqLen: 2 })).toBe(2976);
    expect(flopsPerStep(A, { batchSize: 1, seqLen: 3, attention: "causal-half" })).toBe(3 * (1536 - 48));
  });

  it("counts the declared router cost (D: a linear router's 112 forward FLOPs per sequence, or none), and requires it", () => {
    // D's block 1 with the linear router + predictor: router 32 + predictor 80 (flops.test.ts)
    expect(flopsPerStep(D, { batchSize: 1, seqLen: 4, ...learned(D) }) - flopsPerStep(D, { batchSize: 1, seqLen: 4, routerCost: NO_COST })).toBe(3 * 112);
    expect(() => planForBudget(D, 1e6, { batchSize: 1, seqLen: 4 })).toThrow(/routerCost: is required: block 1 is routed/);
  });

  it("a budget below one step gives 0 steps", () => {
    expect(planForBudget(A, 100, { batchSize: 1, seqLen: 3 })).toMatchObject({ steps: 0, tokens: 0, flopsUsed: 0 });
  });

  it.each<[string, () => unknown, string]>([
    ["negative budget", () => planForBudget(A, -1, { batchSize: 1, seqLen: 3 }), "budget: must be a finite number > 0 (got -1)"],
    ["infinite budget", () => planForBudget(A, Infinity, { batchSize: 1, seqLen: 3 }), "budget: must be a finite number > 0 (got Infinity)"],
    ["zero batch", () => planForBudget(A, 100, { batchSize: 0, seqLen: 3 }), "batchSize: must be a positive integer (got 0)"],
    ["sequence too long", () => planForBudget(A, 1e9, { batchSize: 1, seqLen: 4 }), "seqLen: must be an integer in [1, 3] (contextLength) (got 4)"],
    ["fractional accumulation", () => flopsPerStep(A, { batchSize: 1, seqLen: 3, gradAccum: 0.5 }), "gradAccum: must be a positive integer (got 0.5)"],
    ["negative steps", () => planForSteps(A, -2, { batchSize: 1, seqLen: 3 }), "steps: must be an integer >= 0 (got -2)"],
  ])("rejects %s naming the field", (_case, call, message) => {
    expect(call).toThrow(ConfigError);
    expect(call).toThrow(message);
  });
});

describe("isoFlopSweep", () => {
  const input = {
    budget: 1e13,
    setting: { batchSize: 8, seqLen: 256 },
    base: { vocabSize: 256, contextLength: 256, family: "gpt2" as const },
    sizes: [
      { name: "d128", dModel: 128, nLayers: 4, nHeads: 4 },
      { name: "d256", dModel: 256, nLayers: 8, nHeads: 8 },
    ],
    capacities: [0.125, 0.5],
    // What the registry declares: 0 for the stochastic control, the linear router (+ predictor) otherwise.
    routerCost: (c: ResolvedModelConfig) => (c.routing.router === "stochastic" ? NO_COST : linearRouterCost(c.dModel, c.routing.predictor)),
  };

  it("dense, learned MoD and stochastic MoD per size and capacity, each within the budget", () => {
    const sweep = isoFlopSweep(input);
    expect(sweep.map((e) => `${e.name}:${e.variant}`)).toEqual([
      "d128-dense:dense", "d128-mod12.5:mod", "d128-stochastic12.5:stochastic", "d128-mod50:mod", "d128-stochastic50:stochastic",
      "d256-dense:dense", "d256-mod12.5:mod", "d256-stochastic12.5:stochastic", "d256-mod50:mod", "d256-stochastic50:stochastic",
    ]);
    for (const e of sweep) {
      expect(e.plan.flopsUsed).toBeLessThanOrEqual(1e13);
      expect(e.plan.flopsUsed + e.plan.flopsPerStep).toBeGreaterThan(1e13); // one more step would not fit
    }
    const d256 = sweep.filter((e) => e.name.startsWith("d256"));
    // B's 52,464,451,584 FLOPs per step: floor(1e13 / that) = 190
    expect(d256.find((e) => e.name === "d256-mod12.5")!.plan.steps).toBe(190);
    const [dense, mod, stoch] = d256;
    expect(mod!.plan.steps).toBeGreaterThan(dense!.plan.steps);
    expect(stoch!.plan.steps).toBeGreaterThan(mod!.plan.steps); // no router, no predictor
    expect(stoch!.config.routing).toMatchObject({ router: "stochastic", predictor: null, auxLoss: null, causal: "threshold" });
  });

  it("only dense and learned MoD when stochastic is false", () => {
    const sweep = isoFlopSweep({ ...input, sizes: input.sizes.slice(0, 1), capacities: [0.125], stochastic: false });
    expect(sweep.map((e) => e.name)).toEqual(["d128-dense", "d128-mod12.5"]);
  });

  it("honours base.routing (capacity, blocks, router) instead of overwriting it", () => {
    const { capacities: _omit, ...rest } = input;
    const sweep = isoFlopSweep({ ...rest, sizes: input.sizes.slice(0, 1), base: { ...input.base, routing: { capacity: 0.5, blocks: [0, 2], router: "mine", routerOptions: { a: 1 } } } });
    expect(sweep.map((e) => e.name)).toEqual(["d128-dense", "d128-mod50", "d128-stochastic50"]);
    expect(sweep[1]!.config.routing).toMatchObject({ capacity: 0.5, blocks: [0, 2], router: "mine", routerOptions: { a: 1 } });
    expect(sweep[2]!.config.routing).toMatchObject({ capacity: 0.5, blocks: [0, 2], router: "stochastic", routerOptions: {} });
    expect(() => isoFlopSweep({ ...input, base: { ...input.base, routing: { router: "stochastic" } } })).toThrow(/base\.routing\.router: is the control variant/);
  });

  it("names the size of an impossible config", () => {
    const bad = { ...input, sizes: [...input.sizes, { name: "odd", dModel: 100, nLayers: 2, nHeads: 3 }] };
    expect(() => isoFlopSweep(bad)).toThrow("sizes[2] (odd-dense).nHeads: must divide dModel=100 (got 3)");
  });
});

describe("capacity warm-up (routing.capacityWarmup): a run's FLOPs are the sum of its steps'", () => {
  // B with a 6-step warm-up from capacity 1 to 0.125.
  const W = { ...B, routing: { ...B.routing, capacityWarmup: { steps: 6 } } };
  const setting = { batchSize: 2, seqLen: 256, ...learned(B) };
  /** Independent: step t's FLOPs as a config whose fixed capacity is the cosine's value, summed. */
  const byHand = (steps: number) => {
    let sum = 0;
    for (let t = 0; t < steps; t++) {
      const c = t < 6 ? 0.125 + (0.875 * (1 + Math.cos((Math.PI * t) / 6))) / 2 : 0.125;
      sum += flopsPerStep({ ...B, routing: { ...B.routing, capacity: c } }, setting);
    }
    return sum;
  };

  it("runFlops and planForSteps equal the independent sum, above the run without warm-up", () => {
    for (const steps of [0, 1, 4, 6, 10]) {
      expect(runFlops(W, setting, steps), `${steps} steps`).toBe(byHand(steps));
      expect(planForSteps(W, steps, setting).flopsUsed).toBe(byHand(steps));
    }
    // Step 0 runs at capacity 1: the routed blocks cost as much as dense ones.
    expect(flopsPerStep(W, setting, 0)).toBe(flopsPerStep({ ...B, routing: { ...B.routing, capacity: 1 } }, setting));
    expect(flopsPerStep(W, setting, 6)).toBe(flopsPerStep(B, setting));
    expect(runFlops(W, setting, 10)).toBeGreaterThan(runFlops(B, setting, 10));
    expect(runFlops(B, setting, 10)).toBe(10 * flopsPerStep(B, setting));
  });

  it("planForBudget gives the most steps whose summed FLOPs fit the budget", () => {
    for (const budget of [byHand(3) - 1, byHand(3), byHand(6) + 5, byHand(40) + 1]) {
      const plan = planForBudget(W, budget, setting);
      expect(plan.flopsUsed).toBe(byHand(plan.steps));
      expect(byHand(plan.steps)).toBeLessThanOrEqual(budget);
      expect(byHand(plan.steps + 1)).toBeGreaterThan(budget);
      expect(plan.flopsPerStep).toBe(flopsPerStep(B, setting));
    }
    // Fewer steps than without the warm-up at the same budget.
    expect(planForBudget(W, byHand(40), setting).steps).toBeLessThan(planForBudget(B, byHand(40), setting).steps);
  });
});
