// `mixdepth sweep`: the isoFLOP study of the paper's figure 3. For each training-FLOPs budget
// and each model shape of a depth x width grid, dense, learned MoD (12.5 %, every other
// block) and the stochastic control are trained for the steps the budget buys each of them
// (@mixdepth/flops-accounting's isoFLOP planner); then each variant's optimum (lowest final
// top-k validation loss) is trained again with more seeds, beside a dense model of half the
// dense optimum's depth at the same FLOPs as a control.
// Crash safety: one run folder per run (<out>/<budget>/<run>/), checkpointed at each of its
// evaluations (5 per run by default); a run whose latest checkpoint is its last step is done and skipped, any other
// run with a checkpoint is resumed from it, so a killed sweep continues where it stopped.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isoFlopSweep, paramCounts, type SweepEntry } from "@mixdepth/flops-accounting";
import type { ModelConfig } from "@mixdepth/core";
import { ConfigInvalid, validateConfig, type ValidConfig } from "./config.js";
import { latestStep, writeAtomic } from "@mixdepth/train/node";
import { formatDuration } from "./progress.js";

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

function setting(base: ValidConfig) {
  const t = base.config.training;
  return { batchSize: t.batchSize, seqLen: t.seqLen, gradAccum: t.gradAccum };
}

function entryRun(base: ValidConfig, spec: SweepSpec, out: string, budget: number, e: Entry, shape: Shape, seed: number, phase: SweepRun["phase"], variant: Variant = e.variant): SweepRun {
  const name = `${variant}-${shapeLabel(shape)}-s${seed}`;
  const steps = e.plan.steps;
  if (steps < 1) throw new ConfigInvalid(`--budgets: ${budget.toExponential(3)} FLOPs buy ${variant} ${shapeLabel(shape)} no step (${e.plan.flopsPerStep.toExponential(3)} FLOPs/step)`);
  return { name, budget, variant, shape, seed, phase, steps, params: paramCounts(e.config).total, valid: runConfig(base, e.config, steps, base.config.training.seed + seed, join(out, budgetLabel(budget), name), spec.evals ?? 5) };
}

/** The entries (dense, mod, stochastic[, stochastic-noise]) of one shape at one budget, from the isoFLOP planner. */
function entries(base: ValidConfig, budget: number, shape: Shape, noiseControl = false): Entry[] {
  const { routing, dModel: _d, nLayers: _l, nHeads: _h, ...rest } = base.config.model;
  void _d;
  void _l;
  void _h;
  const planned: Entry[] = isoFlopSweep({ budget, setting: setting(base), base: { ...rest, routing: { ...(routing ?? {}) } }, sizes: [{ name: shapeLabel(shape), ...shape }], capacities: [0.125] });
  if (!noiseControl) return planned;
  // The scale does not change the FLOPs: same plan as the stochastic entry, other router option.
  return planned.flatMap((e) =>
    e.variant === "stochastic" ? [e, { ...e, variant: "stochastic-noise" as const, config: { ...e.config, routing: { ...e.config.routing, routerOptions: { ...(e.config.routing?.routerOptions ?? {}), scale: "noise" } } } }] : [e],
  );
}

/** Phase 1: every shape x variant at every budget, seed 0. */
export function gridRuns(base: ValidConfig, spec: SweepSpec, out: string): SweepRun[] {
  return spec.budgets.flatMap((budget) => spec.shapes.flatMap((shape) => entries(base, budget, shape, spec.noiseControl).map((e) => entryRun(base, spec, out, budget, e, shape, 0, "grid"))));
}

/** Final top-k validation loss of a finished run (its last evaluation), or null. */
export function finalLoss(run: SweepRun): number | null {
  const f = join(run.valid.config.output.dir, "metrics.jsonl");
  if (!existsSync(f) || latestStep(run.valid.config.output.dir) !== run.steps) return null;
  let loss: number | null = null;
  for (const line of readFileSync(f, "utf8").split("\n")) {
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
 * Phase 2 of one budget (once its grid is done): seeds 1..n-1 at each variant's optimum, and
 * the half-depth dense control (dense optimum's width, half its depth) for seeds 0..n-1.
 */
export function seedRuns(base: ValidConfig, spec: SweepSpec, out: string, grid: SweepRun[], budget: number): SweepRun[] {
  const runs: SweepRun[] = [];
  const best = optima(grid, budget);
  for (const [variant, opt] of best) {
    const e = entries(base, budget, opt.shape, spec.noiseControl).find((x) => x.variant === variant) as Entry;
    for (let s = 1; s < spec.seeds; s++) runs.push(entryRun(base, spec, out, budget, e, opt.shape, s, "seeds"));
  }
  const dense = best.get("dense");
  if (dense && dense.shape.nLayers >= 2) {
    const half = { ...dense.shape, nLayers: Math.floor(dense.shape.nLayers / 2) };
    const e = entries(base, budget, half).find((x) => x.variant === "dense") as Entry;
    for (let s = 0; s < spec.seeds; s++) runs.push(entryRun(base, spec, out, budget, e, half, s, "seeds", "dense-half"));
  }
  return runs;
}

export interface SweepOptions {
  /** Only this budget (it must be one of the spec's). */
  budget?: number;
  /** Print the plan and stop. */
  plan?: boolean;
  /** Stop starting or continuing runs after this many hours (one sitting); resume later. */
  hours?: number;
  backendLine: string;
  stop: { requested: boolean };
  log?: (line: string) => void;
  /** Training engine (default tfjs; torch: the PyTorch twin, engine-torch.ts). */
  engine?: "tfjs" | "torch";
}

/** Runs (or continues) the sweep in `out` and writes its report. */
export async function runSweep(base: ValidConfig, spec: SweepSpec, outDir: string, o: SweepOptions): Promise<{ done: boolean; runs: SweepRun[] }> {
  checkSpec(spec);
  const log = o.log ?? ((l: string) => console.log(l));
  const out = resolve(outDir);
  if (o.budget !== undefined && !spec.budgets.some((b) => Math.abs(b - (o.budget as number)) <= 1e-9 * b)) {
    throw new ConfigInvalid(`--budget: ${o.budget} is not one of the sweep's budgets (${spec.budgets.map((b) => b.toExponential(3)).join(", ")})`);
  }
  const budgets = o.budget === undefined ? spec.budgets : spec.budgets.filter((b) => Math.abs(b - (o.budget as number)) <= 1e-9 * b);
  const grid = gridRuns(base, spec, out);
  // A folder holds one study: a different spec or base config would mix incomparable runs. The
  // backend is left out: a later sitting may run on another machine (the report names it).
  const specFile = join(out, "sweep.json");
  const record = JSON.stringify({ spec, base: { ...base.config, output: undefined, backend: undefined } }, null, 2) + "\n";
  if (existsSync(specFile) && readFileSync(specFile, "utf8") !== record) {
    throw new ConfigInvalid(`--out: ${out} holds a sweep with another spec or config (${specFile}); choose another --out`);
  }
  const variants = spec.noiseControl ? 4 : 3;
  const perBudget = spec.shapes.length * variants + variants * (spec.seeds - 1) + spec.seeds;
  const total = budgets.length * perBudget;
  const totalFlops = perBudget * budgets.reduce((a, b) => a + b, 0); // each run spends (just under) its budget
  log(`sweep: ${budgets.length} budget(s) x ${spec.shapes.length} shapes x ${variants} variants, then ${spec.seeds} seeds at each optimum and the half-depth dense control: ${total} runs, ${totalFlops.toExponential(2)} training FLOPs`);
  for (const b of budgets) {
    for (const r of grid.filter((g) => g.budget === b)) log(`  ${budgetLabel(b)} ${r.name}: ${r.steps} steps, ${r.params} parameters`);
  }
  if (o.plan) return { done: false, runs: grid };
  mkdirSync(out, { recursive: true });
  writeAtomic(specFile, record);

  const train = o.engine === "torch" ? (await import("./engine-torch.js")).trainTorch : (await import("./train.js")).train;
  const { writeSweepReport } = await import("./sweep-report.js");
  const started = performance.now();
  let secsPerFlop = Number.NaN; // measured on this machine as runs finish
  let flopsDone = 0; // trained in this sitting
  let flopsScheduled = 0; // budgets of the runs reached so far
  let index = 0;
  const all: SweepRun[] = [];
  const sitting = o.hours !== undefined ? setTimeout(() => ((o.stop.requested = true), log(`sweep: --hours ${o.hours} reached; stopping after the current step`)), o.hours * 3_600_000) : null;
  sitting?.unref();
  const execute = async (r: SweepRun): Promise<boolean> => {
    index += 1;
    flopsScheduled += r.budget;
    all.push(r);
    const dir = r.valid.config.output.dir;
    const done = latestStep(dir);
    const tag = `[sweep ${index}/${total}] ${budgetLabel(r.budget)} ${r.name}`;
    if (done === r.steps) {
      log(`${tag}: done already`);
      return true;
    }
    if (o.stop.requested) return false;
    const left = totalFlops - flopsScheduled + r.budget * (1 - (done ?? 0) / r.steps);
    log(`${tag}: ${r.steps} steps${done !== null ? `, resuming at step ${done}` : ""}; sweep ETA ${formatDuration(left * secsPerFlop)}`);
    const res = await train({ valid: r.valid, runDir: dir, resume: done !== null, backendLine: o.backendLine, stop: o.stop, out: { write: (s: string) => (log(s.replace(/\n$/, "")), true) } });
    if (res.status === "interrupted") return false;
    const flops = (r.steps - (done ?? 0)) * (r.budget / r.steps);
    flopsDone += flops;
    secsPerFlop = (performance.now() - started) / 1000 / Math.max(flopsDone, 1);
    return true;
  };
  try {
    for (const b of budgets) {
      for (const r of grid.filter((g) => g.budget === b)) if (!(await execute(r))) return stopped(log, all);
      for (const r of seedRuns(base, spec, out, grid, b)) if (!(await execute(r))) return stopped(log, all);
    }
  } finally {
    if (sitting) clearTimeout(sitting);
  }
  const budgetsDone = spec.budgets.filter((b) => grid.filter((g) => g.budget === b).every((g) => finalLoss(g) !== null));
  const everything = budgetsDone.flatMap((b) => [...grid.filter((g) => g.budget === b), ...seedRuns(base, spec, out, grid, b)]);
  const report = writeSweepReport(out, everything, o.backendLine);
  log(`sweep: done in ${formatDuration((performance.now() - started) / 1000)} (this sitting)`);
  log(`report: ${report.html}\nresults: ${report.csv}`);
  return { done: true, runs: everything };
}

function stopped(log: (l: string) => void, runs: SweepRun[]): { done: boolean; runs: SweepRun[] } {
  log("sweep: stopped; run the same command again to continue (finished runs are skipped, the interrupted one resumes)");
  return { done: false, runs };
}
