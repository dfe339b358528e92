// The twin's copies of this side's contract are fresh: the committed config contract and
// training fixtures equal what this code computes now. MIXDEPTH_UPDATE_TWIN=1 rewrites them.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { configContract, twinTrainFixtures } from "./twin-contract.js";
import { configSchema, PRESETS } from "./config.js";

const twin = (p: string) => fileURLToPath(new URL(`../../../python/mixdepth-torch/${p}`, import.meta.url));
const FILES = {
  contract: twin("mixdepth_torch/config-contract.json"),
  fixtures: twin("tests/ts-contract/train-ts.json"),
};

function check(path: string, value: unknown): void {
  const text = JSON.stringify(value, null, 1) + "\n";
  if (process.env.MIXDEPTH_UPDATE_TWIN === "1") writeFileSync(path, text);
  expect(existsSync(path), `${path} is missing; run with MIXDEPTH_UPDATE_TWIN=1`).toBe(true);
  expect(JSON.parse(readFileSync(path, "utf8")), `${path} is stale; run with MIXDEPTH_UPDATE_TWIN=1`).toEqual(JSON.parse(text));
}

describe("twin contract", () => {
  it("the committed config contract is the current schema and presets", () => {
    const c = configContract();
    // Every field of the schema is described, with the checks zod applies.
    expect(Object.keys((c.schema as { fields: Record<string, unknown> }).fields)).toEqual(Object.keys(configSchema.shape));
    expect(c.schema).toMatchObject({ fields: { training: { fields: { steps: { type: "number", int: true, min: 1, minInclusive: true }, workers: { type: "positiveIntOrAuto" } } }, data: { fields: { valFraction: { min: 0, minInclusive: false, max: 1, maxInclusive: false } } } } });
    expect(c.presets).toEqual(PRESETS);
    check(FILES.contract, c);
  });

  it("the committed training fixtures are what this side computes", () => {
    const f = twinTrainFixtures();
    // Guards against a vacuous fixture: the split and batches are not empty, the schedule warms up.
    expect(f.split.every((s) => s.train.length > 0 && s.val.length > 0)).toBe(true);
    expect(f.batches.random[0]!.inputs).toHaveLength(24);
    expect(f.schedules[0]!.values[0]).toBeCloseTo(3e-3 / 20, 12);
    expect(f.adamw.decayed).toEqual(["blocks.0.mlp.w1"]);
    check(FILES.fixtures, f);
  });
});
