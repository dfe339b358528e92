// Sweep planning without training: the grid (every shape x variant at every budget spends at
// most its budget and at least what one more step would exceed), flag parsing with clear
// errors, and the statistics of the report.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flopsPerStep } from "@mixdepth/flops-accounting";
import { loadConfig } from "./config.js";
import { SWEEP_PRESET, budgetLabel, checkSpec, gridRuns, parseBudgets, parseShapes, runSweep } from "./sweep.js";
import { mean, std } from "./sweep-report.js";

describe("sweep planning", () => {
  it("plans every shape x variant at every budget within the budget, with warmup and checkpoints scaled", () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12, 4e12], shapes: parseShapes("64x2,64x4"), seeds: 2 };
    const runs = gridRuns(base, spec, "/tmp/sw");
    expect(runs).toHaveLength(12);
    expect(runs.map((r) => r.name).slice(0, 3)).toEqual(["dense-d64-L2-s0", "mod-d64-L2-s0", "stochastic-d64-L2-s0"]);
    const setting = { batchSize: 8, seqLen: 128 };
    for (const r of runs) {
      const per = flopsPerStep(r.valid.model, setting);
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

  it("refuses a folder holding another study and a budget outside the sweep, before writing anything", async () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12], shapes: parseShapes("64x2"), seeds: 1 };
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-sweep-"));
    const o = { plan: true, backendLine: "", stop: { requested: false }, log: () => {} };
    await expect(runSweep(base, spec, dir, { ...o, budget: 2e12 })).rejects.toThrow(/--budget: 2000000000000 is not one of the sweep's budgets \(1\.000e\+12\)/);
    writeFileSync(join(dir, "sweep.json"), "{}\n");
    await expect(runSweep(base, spec, dir, o)).rejects.toThrow(/holds a sweep with another spec or config/);
  });

  it("mean and sample standard deviation", () => {
    expect(mean([1, 2, 3])).toBe(2);
    expect(std([1, 2, 3])).toBe(1);
    expect(std([5])).toBeNaN();
  });
});
