// Sweep planning without training: the grid (every shape x variant at every budget spends at
// most its budget and at least what one more step would exceed; steps and parameters counted
// by hand for one shape), the config's routing kept, the same plan as \`mixdepth compare\`, and
// flag parsing with clear errors.
import { describe, expect, it } from "vitest";
import { flopsPerStep, paramCounts } from "@mixdepth/flops-accounting";
import { loadConfig, parseSet } from "./config.js";
import { planCompare } from "./commands.js";
import { run } from "./cli-test-helpers.js";
import { SWEEP_PRESET, budgetLabel, checkSpec, gridRuns, parseBudgets, parseShapes } from "./sweep-plan.js";

describe("sweep planning", () => {
  it("plans every shape x variant at every budget within the budget, with warmup and checkpoints scaled", () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12, 4e12], shapes: parseShapes("64x2,64x4"), seeds: 2 };
    const runs = gridRuns(base, spec, "/tmp/sw");
    expect(runs).toHaveLength(12);
    expect(runs.map((r) => r.name).slice(0, 3)).toEqual(["dense-d64-L2-s0", "mod-d64-L2-s0", "stochastic-d64-L2-s0"]);
    const setting = { batchSize: 8, seqLen: 128 };
    for (const r of runs) {
      const per = flopsPerStep(r.valid.model, { ...setting, routerCost: r.valid.routerCost });
      expect(r.steps * per).toBeLessThanOrEqual(r.budget);
      expect((r.steps + 1) * per).toBeGreaterThan(r.budget);
      expect(r.valid.config.training.checkpointEvery).toBe(Math.max(1, Math.round(r.steps / 5)));
      expect(r.valid.config.training.warmupSteps).toBe(Math.round(r.steps / 10)); // the preset's 40 of 400
      expect(r.valid.config.output.dir).toBe(`/tmp/sw/${budgetLabel(r.budget)}/${r.name}`);
      expect(r.valid.model.family).toBe("llama");
    }
    const mod = runs.find((r) => r.name === "mod-d64-L4-s0" && r.budget === 1e12)!;
    expect(mod.valid.model.routing).toMatchObject({ blocks: [1, 3], capacity: 0.125, router: "learned" });
    const dense = runs.find((r) => r.name === "dense-d64-L4-s0" && r.budget === 1e12)!;
    expect(mod.steps).toBeGreaterThan(dense.steps); // cheaper steps, more of them
  });

  // By hand, the sweep preset (llama, V=256, S=128, batch 8, no accumulation) at d=64, L=4, H=4:
  // h = ceil(8*64/3/8)*8 = 176 (SwiGLU, 3 matrices), tied embeddings, predictor hidden d/2 = 32.
  // A block on t of S tokens: qkv 2t*64*192 + scores and values 2 * 2t^2*64 + out 2t*64*64 + MLP 2t*64*176*3:
  //   t=128: 3,145,728 + 4,194,304 + 1,048,576 + 8,650,752 = 17,039,360
  //   t=16 (capacity 0.125): 393,216 + 65,536 + 131,072 + 1,081,344 = 1,671,168
  //   t=32 (capacity 0.25):  786,432 + 262,144 + 262,144 + 2,162,688 = 3,473,408
  // Head 2*128*64*256 = 4,194,304. A learned router on all 128 tokens: 2*64 (score) + 2*(64*32 + 32)
  // (predictor) = 4,288 per token = 548,864; the stochastic control declares 0.
  // Training = 3 x forward x 8 sequences; steps = floor(1e13 / that):
  //   dense: 4*17,039,360 + 4,194,304 = 72,351,744 -> 1,736,441,856 per step -> 5758 steps
  //   mod 0.125: 2*17,039,360 + 2*(1,671,168 + 548,864) + 4,194,304 = 42,713,088 -> 9755
  //   stochastic 0.125: 2*17,039,360 + 2*1,671,168 + 4,194,304 = 41,615,360 -> 10,012
  //     (counted as a linear router, 2*16,384 more, it would be 10,004: the old bug)
  //   mod 0.25: 34,078,720 + 2*(3,473,408 + 548,864) + 4,194,304 = 46,317,568 -> 8995
  //   stochastic 0.25: 34,078,720 + 2*3,473,408 + 4,194,304 = 45,219,840 -> 9214
  // Parameters: a block 4*64^2 + 3*64*176 + 2*64 = 50,304; 4 of them + final norm 64 + embedding
  // 256*64 = 217,664; a learned router 64 + 64*32 + 32 + 32 + 1 = 2,177, two of them: 222,018.
  const plan = (...sets: string[]) =>
    gridRuns(loadConfig({ preset: "sweep", overrides: sets.map(parseSet) }), { budgets: [1e13], shapes: parseShapes("64x4"), seeds: 1 }, "/tmp/sw").map((r) => [r.variant, r.steps, r.params]);

  it("plans the hand-counted steps and parameters, the stochastic control at its declared cost (0)", () => {
    expect(plan()).toEqual([["dense", 5758, 217_664], ["mod", 9755, 222_018], ["stochastic", 10_012, 217_664]]);
  });

  it("--set model.routing.capacity=0.25 reaches the MoD and stochastic variants (it used to be overwritten with 0.125)", () => {
    expect(plan("model.routing.capacity=0.25")).toEqual([["dense", 5758, 217_664], ["mod", 8995, 222_018], ["stochastic", 9214, 217_664]]);
    const runs = gridRuns(loadConfig({ preset: "sweep", overrides: [parseSet("model.routing.capacity=0.25")] }), { budgets: [1e13], shapes: parseShapes("64x4"), seeds: 1 }, "/tmp/sw");
    expect(runs.map((r) => r.valid.model.routing.capacity)).toEqual([0.25, 0.25, 0.25]); // dense keeps the field, routes nothing
    expect(runs[0]!.valid.model.routing.blocks).toEqual([]);
  });

  it("mixdepth sweep --plan prints them (the built CLI)", async () => {
    const args = ["sweep", "--plan", "--shapes", "64x4", "--budgets", "1e13", "--seeds", "1"];
    const lines = (out: string) => out.split("\n").filter((l) => l.startsWith("  1.00e13 "));
    const def = await run(args);
    const quarter = await run([...args, "--set", "model.routing.capacity=0.25"]);
    expect([def.code, quarter.code]).toEqual([0, 0]);
    expect(lines(def.stdout)).toEqual(["  1.00e13 dense-d64-L4-s0: 5758 steps, 217664 parameters", "  1.00e13 mod-d64-L4-s0: 9755 steps, 222018 parameters", "  1.00e13 stochastic-d64-L4-s0: 10012 steps, 217664 parameters"]);
    expect(lines(quarter.stdout)).toEqual(["  1.00e13 dense-d64-L4-s0: 5758 steps, 217664 parameters", "  1.00e13 mod-d64-L4-s0: 8995 steps, 222018 parameters", "  1.00e13 stochastic-d64-L4-s0: 9214 steps, 217664 parameters"]);
  });

  it("sweep and compare plan the same steps and parameters for the same model (one planner)", () => {
    const c = planCompare(loadConfig({ preset: "sweep", overrides: [parseSet("model.dModel=64")] }), 1e13);
    const compared = c.variants.map((v) => [v.name, v.steps, paramCounts(v.valid.model, { routerCost: v.valid.routerCost }).total]);
    expect(compared).toEqual(plan());
  });

  it("--noise-control adds the other reading of the stochastic control at the same steps", () => {
    const base = loadConfig({ preset: "sweep" });
    const runs = gridRuns(base, { budgets: [1e12], shapes: parseShapes("64x4"), seeds: 1, noiseControl: true, evals: 2 }, "/tmp/sw");
    expect(runs[0]!.valid.config.training.evalEvery).toBe(Math.round(runs[0]!.steps / 2));
    expect(runs.map((r) => r.variant)).toEqual(["dense", "mod", "stochastic", "stochastic-noise"]);
    const [st, noise] = [runs[2]!, runs[3]!];
    expect(noise.steps).toBe(st.steps);
    expect(noise.valid.model.routing.routerOptions).toEqual({ scale: "noise" });
    expect(st.valid.model.routing.routerOptions).toEqual({});
    expect(noise.valid.model.routing.router).toBe("stochastic");
  });

  it("the preset spans >= 10x from >= 8x the compare budget", () => {
    const b = SWEEP_PRESET.budgets;
    expect(Math.min(...b)).toBeGreaterThanOrEqual(8 * 2.3e12);
    expect(Math.max(...b) / Math.min(...b)).toBeGreaterThanOrEqual(10);
    expect(b.length).toBeGreaterThanOrEqual(3);
  });

  it("parses flags and rejects bad ones, quoting the value", () => {
    expect(parseShapes("64x4, 16x2h1")).toEqual([{ dModel: 64, nLayers: 4, nHeads: 4 }, { dModel: 16, nLayers: 2, nHeads: 1 }]);
    expect(() => parseShapes("64-4")).toThrow(/--shapes: expected width x depth like "64x4" or "64x4h2" \(got "64-4"\)/);
    expect(parseBudgets("1e12,2.5e12")).toEqual([1e12, 2.5e12]);
    expect(() => parseBudgets("1e12,-3")).toThrow(/--budgets: must be FLOPs > 0 \(got "-3"\)/);
    expect(() => checkSpec({ budgets: [1], shapes: [], seeds: 1 })).toThrow(/--shapes: at least one/);
    expect(() => checkSpec({ budgets: [1], shapes: parseShapes("8x2"), seeds: 0 })).toThrow(/--seeds: must be a positive integer \(got 0\)/);
    expect(() => checkSpec({ budgets: [1], shapes: parseShapes("8x2"), seeds: 1, evals: 1.5 })).toThrow(/--evals: must be a positive integer \(got 1\.5\)/);
    const base = loadConfig({ preset: "sweep" });
    expect(() => gridRuns(base, { budgets: [1e6], shapes: parseShapes("64x2"), seeds: 1 }, "/tmp/x")).toThrow(/--budgets: 1\.000e\+6 FLOPs buy dense d64-L2 no step/);
  });
});
