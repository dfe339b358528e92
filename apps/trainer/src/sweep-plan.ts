// The sweep's plan, without training (nothing here trains, writes or imports the report): the
// spec and its flags, the grid of runs (every shape x variant at every budget, each with the
// steps its budget buys it), and the seed runs at each variant's optimum. `planIsoFlop` is the
// one isoFLOP planning of the trainer, shared with `mixdepth compare`: it keeps the config's
// routing (capacity, blocks, router and options) and counts each router at its declared cost.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, type ModelConfig } from "@mixdepth/core";
import { isoFlopSweep, paramCounts, type StepSetting, type SweepEntry } from "@mixdepth/flops-accounting";
import { routerCost } from "@mixdepth/router";
import { ConfigInvalid, validateConfig, type ValidConfig } from "./config.js";
import { latestStep } from "@mixdepth/train/node";
import { MAX_LOG_BYTES, readBoundedText } from "./read-file.js";

export interface Shape {
  dModel: number;
  nLayers: number;
  nHeads: number;
}

export interface SweepSpec {
  /** Training FLOPs per run, one isoFLOP curve each. */
  budgets: number[];
  /** The depth x width grid every budget trains (deeper shapes have more routed blocks). */
  shapes: Shape[];
  /** Seeds at each variant's optimum (the grid run is seed 0 of them). */
  seeds: number;
  /**
   * Also train the other reading of the paper's stochastic control, "stochastic-noise": the
   * sampled Gaussian scores also scale the routed branch (routerOptions.scale "noise").
   */
  noiseControl?: boolean;
  /** Evaluations (and checkpoints) per run, evenly spaced, the last at the final step. Default 5. */
  evals?: number;
}

/**
 * The default study, for 2-core machines: budgets from 8x the compare preset's 2.3e12 to 80x,
 * a 2 x 2 grid of widths and depths, 3 seeds at the optima. Its total cost is printed by
 * `mixdepth sweep --plan`; `--hours` bounds one sitting, later sittings resume.
 */
export const SWEEP_PRESET: SweepSpec = {
  budgets: [1.84e13, 5.8e13, 1.84e14],
  shapes: [
    { dModel: 64, nLayers: 4, nHeads: 4 },
    { dModel: 64, nLayers: 8, nHeads: 4 },
    { dModel: 128, nLayers: 4, nHeads: 4 },
    { dModel: 128, nLayers: 8, nHeads: 4 },
  ],
  seeds: 3,
};

export type Variant = SweepEntry["variant"] | "stochastic-noise" | "dense-half";

/** A planned model of one shape at one budget (the planner's entry, or a variant derived from one). */
type Entry = Omit<SweepEntry, "variant"> & { variant: Variant };

export interface SweepRun {
  /** Folder name under the budget's folder, e.g. "mod-d64-L8-s0". */
  name: string;
  budget: number;
  variant: Variant;
  shape: Shape;
  seed: number;
  phase: "grid" | "seeds";
  steps: number;
  params: number;
  valid: ValidConfig;
}

export const budgetLabel = (b: number) => b.toExponential(2).replace("+", "");
export const shapeLabel = (s: Shape) => `d${s.dModel}-L${s.nLayers}`;

/** "64x4,128x8" (width x depth; heads: 4, or 2 below width 32) -> shapes. */
export function parseShapes(v: string): Shape[] {
  return v.split(",").map((part) => {
    const m = /^\s*(\d+)x(\d+)(?:h(\d+))?\s*$/.exec(part);
    if (!m) throw new ConfigInvalid(`--shapes: expected width x depth like "64x4" or "64x4h2" (got ${JSON.stringify(part)})`);
    const dModel = Number(m[1]);
    return { dModel, nLayers: Number(m[2]), nHeads: m[3] ? Number(m[3]) : dModel >= 32 ? 4 : 2 };
  });
}

/** "1.84e13,5.8e13" -> budgets (each a finite number > 0). */
export function parseBudgets(v: string, flag = "--budgets"): number[] {
  return v.split(",").map((part) => {
    const b = Number(part);
    if (!part.trim() || !Number.isFinite(b) || b <= 0) throw new ConfigInvalid(`${flag}: must be FLOPs > 0 (got ${JSON.stringify(part)})`);
    return b;
  });
}

export function checkSpec(spec: SweepSpec): void {
  if (spec.budgets.length === 0) throw new ConfigInvalid("--budgets: at least one budget is needed");
  if (spec.shapes.length === 0) throw new ConfigInvalid("--shapes: at least one shape is needed");
  if (!Number.isInteger(spec.seeds) || spec.seeds < 1) throw new ConfigInvalid(`--seeds: must be a positive integer (got ${JSON.stringify(spec.seeds)})`);
  if (spec.evals !== undefined && (!Number.isInteger(spec.evals) || spec.evals < 1)) throw new ConfigInvalid(`--evals: must be a positive integer (got ${JSON.stringify(spec.evals)})`);
}

/**
 * One run's full trainer config: the base training settings with this run's model, steps and
 * seed; warmup keeps the base's fraction of the steps; `evals` evaluations and checkpoints.
 */
function runConfig(base: ValidConfig, model: ModelConfig, steps: number, seed: number, dir: string, evals: number): ValidConfig {
  const t = base.config.training;
  const every = Math.max(1, Math.round(steps / evals));
  return validateConfig({
    ...base.config,
    model,
    training: { ...t, steps, seed, warmupSteps: Math.min(steps, Math.round((t.warmupSteps / t.steps) * steps)), evalEvery: every, checkpointEvery: every },
    output: { dir },
  });
}

/** The training setting that FLOPs per step depend on (batch, sequence length, accumulation). */
export function stepSetting(valid: ValidConfig): StepSetting {
  const t = valid.config.training;
  return { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum };
}

/**
 * The isoFLOP entries (dense, the config's MoD, the stochastic control) of each size at one
 * budget: the config's routing is kept as it is (capacity, blocks, router and its options;
 * without routed blocks the MoD variants route every other block), and every router counts
 * what its kind declares (@mixdepth/router's routerCost). A config that cannot be planned is a
 * ConfigInvalid naming the model field.
 */
export function planIsoFlop(valid: ValidConfig, budget: number, sizes: { name: string; dModel: number; nLayers: number; nHeads: number }[]): SweepEntry[] {
  const { routing, dModel: _d, nLayers: _l, nHeads: _h, ...rest } = valid.config.model;
  void _d;
  void _l;
  void _h;
  try {
    return isoFlopSweep({ budget, setting: stepSetting(valid), base: { ...rest, routing: { ...(routing ?? {}) } }, sizes, routerCost });
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigInvalid(`invalid config:\n  ${e.message.replace(/^base\./, "model.").replace(/^sizes\[\d+\] \([^)]*\)\./, "model.")}`);
    throw e;
  }
}

function entryRun(base: ValidConfig, spec: SweepSpec, out: string, budget: number, e: Entry, shape: Shape, seed: number, phase: SweepRun["phase"], variant: Variant = e.variant): SweepRun {
  const name = `${variant}-${shapeLabel(shape)}-s${seed}`;
  const steps = e.plan.steps;
  if (steps < 1) throw new ConfigInvalid(`--budgets: ${budget.toExponential(3)} FLOPs buy ${variant} ${shapeLabel(shape)} no step (${e.plan.flopsPerStep.toExponential(3)} FLOPs/step)`);
  const valid = runConfig(base, e.config, steps, base.config.training.seed + seed, join(out, budgetLabel(budget), name), spec.evals ?? 5);
  return { name, budget, variant, shape, seed, phase, steps, params: paramCounts(valid.model, { routerCost: valid.routerCost }).total, valid };
}

/** The entries (dense, mod, stochastic[, stochastic-noise]) of one shape at one budget, from the isoFLOP planner. */
function entries(base: ValidConfig, budget: number, shape: Shape, noiseControl = false): Entry[] {
  const planned: Entry[] = planIsoFlop(base, budget, [{ name: shapeLabel(shape), ...shape }]);
  if (!noiseControl) return planned;
  // The scale does not change the FLOPs: same plan as the stochastic entry, other router option.
  return planned.flatMap((e) =>
    e.variant === "stochastic" ? [e, { ...e, variant: "stochastic-noise" as const, config: { ...e.config, routing: { ...e.config.routing, routerOptions: { ...(e.config.routing?.routerOptions ?? {}), scale: "noise" } } } }] : [e],
  );
}

/** The variants phase 1 trains at every shape (the stochastic controls follow MoD's optimum, phase 2). */
export const GRID_VARIANTS: Variant[] = ["dense", "mod"];

/** Phase 1: dense and MoD at every shape of every budget, seed 0. */
export function gridRuns(base: ValidConfig, spec: SweepSpec, out: string): SweepRun[] {
  return spec.budgets.flatMap((budget) =>
    spec.shapes.flatMap((shape) =>
      entries(base, budget, shape)
        .filter((e) => GRID_VARIANTS.includes(e.variant))
        .map((e) => entryRun(base, spec, out, budget, e, shape, 0, "grid")),
    ),
  );
}

/** Final top-k validation loss of a finished run (its last evaluation), or null. */
export function finalLoss(run: SweepRun): number | null {
  const f = join(run.valid.config.output.dir, "metrics.jsonl");
  if (!existsSync(f) || latestStep(run.valid.config.output.dir) !== run.steps) return null;
  let loss: number | null = null;
  for (const line of readBoundedText(f, MAX_LOG_BYTES, "metrics.jsonl", "MAX_LOG_BYTES, 256 MiB").split("\n")) {
    if (!line.includes('"type":"eval"')) continue;
    try {
      const r = JSON.parse(line) as { step: number; topk: { loss: number } };
      if (r.step === run.steps) loss = r.topk.loss;
    } catch {
      // torn line
    }
  }
  return loss;
}

/** Each variant's optimum at one budget: the finished grid run with the lowest final loss. */
export function optima(grid: SweepRun[], budget: number): Map<Variant, SweepRun> {
  const best = new Map<Variant, { run: SweepRun; loss: number }>();
  for (const r of grid.filter((g) => g.budget === budget)) {
    const loss = finalLoss(r);
    if (loss === null) continue;
    const cur = best.get(r.variant);
    if (!cur || loss < cur.loss) best.set(r.variant, { run: r, loss });
  }
  return new Map([...best].map(([v, b]) => [v, b.run]));
}

/**
 * Phase 2 of one budget (once its grid is done; its runs are independent of each other): both
 * stochastic readings (stochastic, and stochastic-noise when the spec asks for it) at MoD's
 * optimum shape for seeds 0..n-1, seeds 1..n-1 at the dense and MoD optima, and the half-depth
 * dense control (dense optimum's width, half its depth) for seeds 0..n-1.
 */
export function seedRuns(base: ValidConfig, spec: SweepSpec, out: string, grid: SweepRun[], budget: number): SweepRun[] {
  return phaseTwo(base, spec, out, budget, optima(grid, budget));
}

/** seedRuns for given optima (the finished grid's, or a test's). */
export function phaseTwo(base: ValidConfig, spec: SweepSpec, out: string, budget: number, best: Map<Variant, SweepRun>): SweepRun[] {
  const runs: SweepRun[] = [];
  for (const variant of GRID_VARIANTS) {
    const opt = best.get(variant);
    if (!opt) continue;
    const e = entries(base, budget, opt.shape).find((x) => x.variant === variant) as Entry;
    for (let s = 1; s < spec.seeds; s++) runs.push(entryRun(base, spec, out, budget, e, opt.shape, s, "seeds"));
  }
  const mod = best.get("mod");
  if (mod) {
    for (const e of entries(base, budget, mod.shape, spec.noiseControl).filter((x) => x.variant === "stochastic" || x.variant === "stochastic-noise")) {
      for (let s = 0; s < spec.seeds; s++) runs.push(entryRun(base, spec, out, budget, e, mod.shape, s, "seeds"));
    }
  }
  const dense = best.get("dense");
  if (dense && dense.shape.nLayers >= 2) {
    const half = { ...dense.shape, nLayers: Math.floor(dense.shape.nLayers / 2) };
    const e = entries(base, budget, half).find((x) => x.variant === "dense") as Entry;
    for (let s = 0; s < spec.seeds; s++) runs.push(entryRun(base, spec, out, budget, e, half, s, "seeds", "dense-half"));
  }
  return runs;
}

/** Runs per budget: the grid (dense and MoD at every shape), then phase 2 (seedRuns). */
export function runsPerBudget(spec: SweepSpec): number {
  const stochastic = spec.noiseControl ? 2 : 1;
  return spec.shapes.length * GRID_VARIANTS.length + GRID_VARIANTS.length * (spec.seeds - 1) + stochastic * spec.seeds + spec.seeds;
}

export interface EdgeNote {
  budget: number;
  variant: Variant;
  shape: Shape;
  /** "largest" or "smallest" of the grid's parameter counts at this budget. */
  side: "largest" | "smallest";
  /** The shapes to add in that direction (deeper or wider; shallower or narrower). */
  add: Shape[];
}

/**
 * Where a variant's optimum sits on the grid's edge: the largest or smallest model (by
 * parameters) of the finished grid at that budget, so the isoFLOP curve's minimum may lie
 * beyond it. Names the shapes to add in that direction: twice (half) the depth, or twice (half)
 * the width, each kept only when it is not in the grid already.
 */
export function edgeNotes(grid: { budget: number; variant: Variant; shape: Shape; params: number; loss: number | null }[]): EdgeNote[] {
  const notes: EdgeNote[] = [];
  for (const budget of [...new Set(grid.map((g) => g.budget))]) {
    for (const variant of GRID_VARIANTS) {
      const rs = grid.filter((g) => g.budget === budget && g.variant === variant && g.loss !== null && Number.isFinite(g.loss));
      if (rs.length < 2) continue;
      const best = rs.reduce((a, b) => ((b.loss as number) < (a.loss as number) ? b : a));
      const params = rs.map((r) => r.params);
      const side = best.params === Math.max(...params) ? "largest" : best.params === Math.min(...params) ? "smallest" : null;
      if (!side) continue;
      const s = best.shape;
      const has = (x: Shape) => grid.some((g) => g.budget === budget && shapeLabel(g.shape) === shapeLabel(x));
      const cand: Shape[] =
        side === "largest"
          ? [{ ...s, nLayers: s.nLayers * 2 }, { ...s, dModel: s.dModel * 2 }]
          : [...(s.nLayers >= 2 ? [{ ...s, nLayers: Math.floor(s.nLayers / 2) }] : []), ...(s.dModel >= 2 * s.nHeads && (s.dModel / 2) % s.nHeads === 0 ? [{ ...s, dModel: s.dModel / 2 }] : [])];
      notes.push({ budget, variant, shape: s, side, add: cand.filter((c) => !has(c)) });
    }
  }
  return notes;
}

/** One line per edge note, e.g. "1.84e13 mod: optimum d128-L8 is the grid's largest model; add --shapes ...,128x16 or 256x8". */
export function edgeLine(n: EdgeNote): string {
  const add = n.add.map((s) => `${s.dModel}x${s.nLayers}${s.nHeads !== (s.dModel >= 32 ? 4 : 2) ? `h${s.nHeads}` : ""}`);
  return `${budgetLabel(n.budget)} ${n.variant}: optimum ${shapeLabel(n.shape)} is the grid's ${n.side} model, so the isoFLOP minimum may lie beyond it; ${add.length ? `add ${add.join(" or ")} to --shapes` : "no shape left to add in that direction"}`;
}
