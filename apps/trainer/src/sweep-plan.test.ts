// Sweep planning without training: the grid (dense and MoD at every shape of every budget spends
// at most its budget and at least what one more step would exceed; steps and parameters counted
// by hand for one shape), phase 2 (both stochastic readings at MoD's optimum shape, seeds at the
// optima, the half-depth control), grid-edge notes, the config's routing kept, the same plan as
// \`mixdepth compare\`, and flag parsing with clear errors.
import { describe, expect, it } from "vitest";
import { flopsPerStep, paramCounts } from "@mixdepth/flops-accounting";
import { loadConfig, parseSet } from "./config.js";
import { planCompare } from "./commands.js";
import { run } from "./cli-test-helpers.js";
import { SWEEP_PRESET, budgetLabel, checkSpec, edgeLine, edgeNotes, gridRuns, parseBudgets, parseShapes, phaseTwo, runsPerBudget, type SweepRun, type Variant } from "./sweep-plan.js";

describe("sweep planning", () => {
  it("plans dense and MoD at every shape of every budget within the budget, with warmup and checkpoints scaled", () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12, 4e12], shapes: parseShapes("64x2,64x4"), seeds: 2 };
    const runs = gridRuns(base, spec, "/tmp/sw");
    expect(runs).toHaveLength(8);
    expect(runs.map((r) => r.name).slice(0, 3)).toEqual(["dense-d64-L2-s0", "mod-d64-L2-s0", "dense-d64-L4-s0"]);
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
  // The grid's dense and MoD, then the stochastic control that phase 2 trains at MoD's optimum (here the one shape).
  const plan = (...sets: string[]) => {
    const base = loadConfig({ preset: "sweep", overrides: sets.map(parseSet) });
    const spec = { budgets: [1e13], shapes: parseShapes("64x4"), seeds: 1 };
    const grid = gridRuns(base, spec, "/tmp/sw");
    const best = new Map(grid.map((r): [Variant, SweepRun] => [r.variant, r]));
    return [...grid, ...phaseTwo(base, spec, "/tmp/sw", 1e13, best).filter((r) => r.variant === "stochastic")].map((r) => [r.variant, r.steps, r.params]);
  };

  it("plans the hand-counted steps and parameters, the stochastic control at its declared cost (0)", () => {
    expect(plan()).toEqual([["dense", 5758, 217_664], ["mod", 9755, 222_018], ["stochastic", 10_012, 217_664]]);
  });

  it("--set model.routing.capacity=0.25 reaches the MoD and stochastic variants (it used to be overwritten with 0.125)", () => {
    expect(plan("model.routing.capacity=0.25")).toEqual([["dense", 5758, 217_664], ["mod", 8995, 222_018], ["stochastic", 9214, 217_664]]);
    const runs = gridRuns(loadConfig({ preset: "sweep", overrides: [parseSet("model.routing.capacity=0.25")] }), { budgets: [1e13], shapes: parseShapes("64x4"), seeds: 1 }, "/tmp/sw");
    expect(runs.map((r) => r.valid.model.routing.capacity)).toEqual([0.25, 0.25]); // dense keeps the field, routes nothing
    expect(runs[0]!.valid.model.routing.blocks).toEqual([]);
  });

  it("mixdepth sweep --plan prints them (the built CLI)", async () => {
    const args = ["sweep", "--plan", "--shapes", "64x4", "--budgets", "1e13", "--seeds", "1"];
    const lines = (out: string) => out.split("\n").filter((l) => l.startsWith("  1.00e13 "));
    const def = await run(args);
    const quarter = await run([...args, "--set", "model.routing.capacity=0.25"]);
    expect([def.code, quarter.code]).toEqual([0, 0]);
    expect(lines(def.stdout)).toEqual(["  1.00e13 dense-d64-L4-s0: 5758 steps, 217664 parameters", "  1.00e13 mod-d64-L4-s0: 9755 steps, 222018 parameters"]);
    expect(lines(quarter.stdout)).toEqual(["  1.00e13 dense-d64-L4-s0: 5758 steps, 217664 parameters", "  1.00e13 mod-d64-L4-s0: 8995 steps, 222018 parameters"]);
    expect(def.stdout).toMatch(/^sweep: 1 budget\(s\) x 1 shapes x dense and mod, then stochastic at mod's optimum shape, .*: 4 runs, /m);
  });

  it("sweep and compare plan the same steps and parameters for the same model (one planner)", () => {
    const c = planCompare(loadConfig({ preset: "sweep", overrides: [parseSet("model.dModel=64")] }), 1e13);
    const compared = c.variants.map((v) => [v.name, v.steps, paramCounts(v.valid.model, { routerCost: v.valid.routerCost }).total]);
    expect(compared).toEqual(plan());
  });

  it("phase 2: both stochastic readings at MoD's optimum shape, seeds at the dense and MoD optima, the half-depth control", () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12], shapes: parseShapes("64x2,64x4,128x2,128x4"), seeds: 3, noiseControl: true, evals: 2 };
    const grid = gridRuns(base, spec, "/tmp/sw");
    expect(grid.map((r) => r.variant)).toEqual(["dense", "mod", "dense", "mod", "dense", "mod", "dense", "mod"]);
    const pick = (name: string) => grid.find((r) => r.name === name)!;
    const best = new Map<Variant, SweepRun>([["dense", pick("dense-d128-L4-s0")], ["mod", pick("mod-d64-L4-s0")]]);
    const two = phaseTwo(base, spec, "/tmp/sw", 1e12, best);
    expect(two.map((r) => r.name)).toEqual([
      "dense-d128-L4-s1", "dense-d128-L4-s2", "mod-d64-L4-s1", "mod-d64-L4-s2",
      "stochastic-d64-L4-s0", "stochastic-d64-L4-s1", "stochastic-d64-L4-s2",
      "stochastic-noise-d64-L4-s0", "stochastic-noise-d64-L4-s1", "stochastic-noise-d64-L4-s2",
      "dense-half-d128-L2-s0", "dense-half-d128-L2-s1", "dense-half-d128-L2-s2",
    ]);
    expect(grid.length + two.length).toBe(runsPerBudget(spec));
    const [st, noise] = [two[4]!, two[7]!];
    expect(st.valid.config.training.evalEvery).toBe(Math.round(st.steps / 2));
    expect(noise.steps).toBe(st.steps);
    expect(noise.valid.model.routing.routerOptions).toEqual({ scale: "noise" });
    expect(st.valid.model.routing.routerOptions).toEqual({});
    expect(noise.valid.model.routing.router).toBe("stochastic");
    expect(two.map((r) => r.valid.config.training.seed)).toEqual([1, 2, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    // Without the noise reading, and with a one-seed spec: one stochastic run, no extra seeds.
    expect(phaseTwo(base, { ...spec, noiseControl: false, seeds: 1 }, "/tmp/sw", 1e12, best).map((r) => r.name)).toEqual(["stochastic-d64-L4-s0", "dense-half-d128-L2-s0"]);
  });

  it("says when an optimum is the grid's largest or smallest model and names the shapes to add", () => {
    const s = (d: number, l: number) => ({ dModel: d, nLayers: l, nHeads: 4 });
    const row = (variant: Variant, d: number, l: number, params: number, loss: number) => ({ budget: 1e12, variant, shape: s(d, l), params, loss });
    const grid = [row("dense", 64, 4, 100, 3.0), row("dense", 64, 8, 200, 2.9), row("dense", 128, 8, 400, 2.8), row("mod", 64, 4, 100, 2.7), row("mod", 64, 8, 200, 2.9), row("mod", 128, 8, 400, 3.1)];
    const notes = edgeNotes(grid);
    expect(notes.map((n) => [n.variant, n.side, n.add.map((x) => `${x.dModel}x${x.nLayers}`)])).toEqual([["dense", "largest", ["128x16", "256x8"]], ["mod", "smallest", ["64x2", "32x4"]]]);
    expect(edgeLine(notes[0]!)).toBe("1.00e12 dense: optimum d128-L8 is the grid's largest model, so the isoFLOP minimum may lie beyond it; add 128x16 or 256x8 to --shapes");
    // Interior optima: no note; an unfinished run does not count.
    expect(edgeNotes([row("dense", 64, 4, 100, 3.0), row("dense", 64, 8, 200, 2.5), row("dense", 128, 8, 400, 2.9)])).toEqual([]);
    expect(edgeNotes([row("dense", 64, 4, 100, 3.0), { ...row("dense", 64, 8, 200, 2.5), loss: null }])).toEqual([]);
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
