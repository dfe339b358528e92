// \`runSweep\` refuses what would mix studies or miss the spec, before it writes anything.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { parseShapes } from "./sweep-plan.js";
import { runSweep } from "./sweep.js";

describe("runSweep", () => {
  it("refuses a folder holding another study, a budget outside the sweep and --jobs without the torch engine, before writing anything", async () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12], shapes: parseShapes("64x2"), seeds: 1 };
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-sweep-"));
    const o = { plan: true, backendLine: "", stop: { requested: false }, log: () => {} };
    await expect(runSweep(base, spec, dir, { ...o, budget: 2e12 })).rejects.toThrow(/--budget: 2000000000000 is not one of the sweep's budgets \(1\.000e\+12\)/);
    await expect(runSweep(base, spec, dir, { ...o, jobs: 2 })).rejects.toThrow(/--jobs: 2 runs at once need --engine torch/);
    await expect(runSweep(base, spec, dir, { ...o, jobs: 0, engine: "torch" })).rejects.toThrow(/--jobs: must be a positive integer \(got 0\)/);
    expect(existsSync(join(dir, "sweep.json"))).toBe(false);
    writeFileSync(join(dir, "sweep.json"), "{}\n");
    await expect(runSweep(base, spec, dir, o)).rejects.toThrow(/holds a sweep with another spec or config/);
  });
});

describe("estimateSeconds", () => {
  it("counts steps at the measured ms per FLOP of the variant and shape, evaluations and start-up; phase-2 shapes at the grid's mean", async () => {
    const { estimateSeconds } = await import("./sweep.js");
    const m = new Map([
      ["dense|d64-L4", { msPerStep: 10, evalSeconds: 1, startupSeconds: 3, flopsPerStep: 1e9 }],
      ["dense|d64-L8", { msPerStep: 30, evalSeconds: 3, startupSeconds: 5, flopsPerStep: 2e9 }],
      ["mod|d64-L4", { msPerStep: 8, evalSeconds: 1, startupSeconds: 3, flopsPerStep: 0.5e9 }],
    ]);
    // 1000 steps x 1e9 FLOPs at 10 ms per 1e9 = 10 s, 5 evaluations of 1 s, 3 s start-up.
    expect(estimateSeconds(m, "dense", "d64-L4", 1000, 1e9, 5)).toBeCloseTo(18, 9);
    // dense-half of unknown shape: the mean over dense's shapes (1e-8 and 1.5e-8 ms/FLOP), 2 s evaluations, 4 s start-up.
    expect(estimateSeconds(m, "dense-half", null, 1, 1e12, 5)).toBeCloseTo(1e12 * 1.25e-8 / 1000 + 10 + 4, 9);
    // The stochastic controls at MoD's rate; nothing measured: NaN.
    expect(estimateSeconds(m, "stochastic-noise", "d64-L4", 100, 0.5e9, 1)).toBeCloseTo(0.8 + 1 + 3, 9);
    expect(estimateSeconds(new Map(), "mod", "d64-L4", 1, 1, 1)).toBeNaN();
  });
});
