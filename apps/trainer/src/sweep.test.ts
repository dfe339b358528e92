// \`runSweep\` refuses what would mix studies or miss the spec, before it writes anything.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { parseShapes } from "./sweep-plan.js";
import { runSweep } from "./sweep.js";

describe("runSweep", () => {
  it("refuses a folder holding another study and a budget outside the sweep, before writing anything", async () => {
    const base = loadConfig({ preset: "sweep" });
    const spec = { budgets: [1e12], shapes: parseShapes("64x2"), seeds: 1 };
    const dir = mkdtempSync(join(tmpdir(), "mixdepth-sweep-"));
    const o = { plan: true, backendLine: "", stop: { requested: false }, log: () => {} };
    await expect(runSweep(base, spec, dir, { ...o, budget: 2e12 })).rejects.toThrow(/--budget: 2000000000000 is not one of the sweep's budgets \(1\.000e\+12\)/);
    writeFileSync(join(dir, "sweep.json"), "{}\n");
    await expect(runSweep(base, spec, dir, o)).rejects.toThrow(/holds a sweep with another spec or config/);
  });
});
