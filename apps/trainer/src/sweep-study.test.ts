// The isoFLOP study report's derived numbers on a hand-made results set: optima (the grid's best
// shape, every seed there), seed mean and spread, paired seed differences, the cross-engine
// agreement at the smallest shared budget, and the wall time per budget with its machine and load.
import { describe, expect, it } from "vitest";
import type { Variant } from "./sweep-plan.js";
import { crossEngine, pairedDiffs, studyOptima, wallTimes, type StudyRow } from "./sweep-study.js";

const shape = (d: number, l: number) => ({ dModel: d, nLayers: l, nHeads: 4 });

function row(engine: string, budget: number, variant: Variant, d: number, l: number, seed: number, loss: number, extra: Partial<StudyRow> = {}): StudyRow {
  return {
    engine, budget, variant, shape: shape(d, l), params: d * d * l, steps: 10, seed, phase: seed === 0 && (variant === "dense" || variant === "mod") ? "grid" : "seeds", loss,
    causal: variant === "mod" ? loss + 0.1 : null, accuracy: variant === "mod" ? 0.9 : null, msPerStep: 20, curve: [[1, loss + 1], [2, loss]],
    machine: "m1 (2 x cpu)", loadavg: 2, started: "2026-01-01T00:00:00.000Z", ended: "2026-01-01T00:30:00.000Z", wallSeconds: 1800, ...extra,
  };
}

// Budget 1e12, torch: dense grid 64x4 (3.0), 64x8 (2.8, best), 128x4 (2.9); MoD grid 64x4 (2.7, best), 64x8 (2.75), 128x4 (2.85).
// Seeds at the optima: dense 64x8 s1 2.9, s2 2.7; MoD 64x4 s1 2.6, s2 2.8; stochastic at MoD's 64x4: 2.9, 3.0, 2.8.
const torch1: StudyRow[] = [
  row("torch", 1e12, "dense", 64, 4, 0, 3.0), row("torch", 1e12, "dense", 64, 8, 0, 2.8), row("torch", 1e12, "dense", 128, 4, 0, 2.9),
  row("torch", 1e12, "mod", 64, 4, 0, 2.7), row("torch", 1e12, "mod", 64, 8, 0, 2.75), row("torch", 1e12, "mod", 128, 4, 0, 2.85),
  row("torch", 1e12, "dense", 64, 8, 1, 2.9), row("torch", 1e12, "dense", 64, 8, 2, 2.7),
  row("torch", 1e12, "mod", 64, 4, 1, 2.6), row("torch", 1e12, "mod", 64, 4, 2, 2.8),
  row("torch", 1e12, "stochastic", 64, 4, 0, 2.9), row("torch", 1e12, "stochastic", 64, 4, 1, 3.0), row("torch", 1e12, "stochastic", 64, 4, 2, 2.8),
];
// The same budget on tfjs: dense optimum 64x8 (one seed, 2.85: within the torch spread), MoD's 64x8 (another shape).
const tfjs1: StudyRow[] = [
  row("tfjs", 1e12, "dense", 64, 4, 0, 3.1, { msPerStep: 60, machine: "m2 (2 x cpu)", loadavg: 4, wallSeconds: 3600 }), row("tfjs", 1e12, "dense", 64, 8, 0, 2.85, { msPerStep: 80, machine: "m2 (2 x cpu)", loadavg: 6, wallSeconds: 3600 }),
  row("tfjs", 1e12, "mod", 64, 4, 0, 2.9, { machine: "m1 (2 x cpu)" }), row("tfjs", 1e12, "mod", 64, 8, 0, 2.8, { machine: "m2 (2 x cpu)" }),
];
// A larger budget on torch only (the cross-engine table must pick 1e12, the smallest both ran).
const torch2: StudyRow[] = [row("torch", 1e13, "dense", 64, 8, 0, 2.5), row("torch", 1e13, "mod", 64, 8, 0, 2.4)];

describe("isoFLOP study report numbers", () => {
  const rows = [...torch1, ...tfjs1, ...torch2];
  const optima = studyOptima(rows);
  const get = (e: string, b: number, v: Variant) => optima.find((o) => o.engine === e && o.budget === b && o.variant === v)!;

  it("optima: the grid's best shape with every seed trained there, mean and sample spread", () => {
    const dense = get("torch", 1e12, "dense");
    expect(dense.shape).toEqual(shape(64, 8));
    expect(dense.runs.map((r) => [r.seed, r.loss])).toEqual([[0, 2.8], [1, 2.9], [2, 2.7]]);
    expect(dense.mean).toBeCloseTo(2.8, 12);
    expect(dense.std).toBeCloseTo(0.1, 12);
    const mod = get("torch", 1e12, "mod");
    expect(mod.shape).toEqual(shape(64, 4));
    expect(mod.mean).toBeCloseTo(2.7, 12);
    expect(mod.gap).toBeCloseTo(0.1, 12);
    expect(mod.accuracy).toBeCloseTo(0.9, 12);
    expect(get("torch", 1e12, "stochastic").mean).toBeCloseTo(2.9, 12);
    expect(dense.gap).toBeNull();
    expect(get("tfjs", 1e12, "mod").shape).toEqual(shape(64, 8));
    expect(get("tfjs", 1e12, "dense").std).toBeNaN(); // one seed
  });

  it("paired differences: a - b at the same seed", () => {
    const d = pairedDiffs(optima).filter((x) => x.engine === "torch" && x.budget === 1e12);
    expect(d.map((x) => `${x.a} - ${x.b}`)).toEqual(["mod - dense", "stochastic - dense", "mod - stochastic"]);
    const modDense = d[0]!;
    expect(modDense.bySeed.map((x) => x.seed)).toEqual([0, 1, 2]);
    expect(modDense.bySeed.map((x) => x.diff)).toEqual([2.7 - 2.8, 2.6 - 2.9, 2.8 - 2.7]);
    expect(modDense.mean).toBeCloseTo(-0.1, 12);
    expect(modDense.std).toBeCloseTo(0.2, 12); // differences -0.1, -0.3, 0.1
    expect(d[2]!.mean).toBeCloseTo(-0.2, 12); // mod - stochastic: -0.2, -0.4, 0
  });

  it("cross-engine: the smallest budget both engines ran, same shape and |difference| within the combined spread", () => {
    const c = crossEngine(optima);
    expect(c.map((x) => [x.budget, x.variant, x.engines, x.shapes])).toEqual([
      [1e12, "dense", ["torch", "tfjs"], ["d64-L8", "d64-L8"]],
      [1e12, "mod", ["torch", "tfjs"], ["d64-L4", "d64-L8"]],
    ]);
    const [dense, mod] = [c[0]!, c[1]!];
    expect(dense.diff).toBeCloseTo(2.8 - 2.85, 12);
    expect(dense.spread).toBeCloseTo(0.1, 12); // tfjs's single seed counts 0
    expect(dense.agree).toBe(true);
    expect(mod.sameShape).toBe(false);
    expect(mod.agree).toBe(false);
    // A loss difference larger than the spread disagrees even at the same shape.
    const far = crossEngine(studyOptima([...torch1, row("tfjs", 1e12, "dense", 64, 8, 0, 3.2)]));
    expect(far[0]!.agree).toBe(false);
    expect(crossEngine(studyOptima(torch1))).toEqual([]);
  });

  it("wall time per budget and engine, with the machines and the mean load at the runs' start", () => {
    const w = wallTimes(rows);
    expect(w.map((x) => [x.engine, x.budget, x.runs])).toEqual([["tfjs", 1e12, 4], ["torch", 1e12, 13], ["torch", 1e13, 2]]);
    const t = w[0]!;
    expect(t.msPerStep).toBeCloseTo((60 + 80 + 20 + 20) / 4, 12);
    expect(t.hours).toBeCloseTo((3600 + 3600 + 1800 + 1800) / 3600, 12);
    expect(t.loadavg).toBeCloseTo((4 + 6 + 2 + 2) / 4, 12);
    expect(t.machines).toEqual(["m1 (2 x cpu)", "m2 (2 x cpu)"]);
    expect(t.from).toBe("2026-01-01T00:00:00.000Z");
  });
});
