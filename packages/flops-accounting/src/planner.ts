// isoFLOP planning (docs/method.md section 5): every config of a comparison gets the same training
// FLOPs budget; cheaper-per-step configs (MoD) get more steps.
// Under a capacity warm-up (routing.capacityWarmup) the first steps cost more: a run's FLOPs are
// the sum over its steps of each step's FLOPs (runFlops), and the plans count exactly that.
import { ConfigError, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { asResolved, trainingFlops, type AttentionCounting } from "./flops.js";
import type { RouterCostOption } from "./router-cost.js";

export interface StepSetting {
  batchSize: number;
  seqLen: number;
  /** Gradient accumulation micro-batches per step. Default 1. */
  gradAccum?: number;
  attention?: AttentionCounting;
  /** What each router costs, as its kind declares. Required when the config has routed blocks. */
  routerCost?: RouterCostOption;
}

export interface Plan {
  /** FLOPs of one step after any capacity warm-up. */
  flopsPerStep: number;
  steps: number;
  tokens: number;
  flopsUsed: number;
}

function check(setting: StepSetting): Required<Omit<StepSetting, "attention" | "routerCost">> & { attention: AttentionCounting; routerCost: RouterCostOption | undefined } {
  if (setting === null || typeof setting !== "object") throw new ConfigError("setting", setting, "must be { batchSize, seqLen }");
  const pos = (field: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new ConfigError(field, v, "must be a positive integer");
    return v;
  };
  return {
    batchSize: pos("batchSize", setting.batchSize),
    seqLen: pos("seqLen", setting.seqLen),
    gradAccum: pos("gradAccum", setting.gradAccum ?? 1),
    attention: setting.attention ?? "full",
    routerCost: setting.routerCost,
  };
}

/**
 * Training FLOPs of one optimizer step: step `step` (0-based) under a capacity warm-up, or
 * without `step` a step after it.
 */
export function flopsPerStep(config: ModelConfig | ResolvedModelConfig, setting: StepSetting, step?: number): number {
  const s = check(setting);
  const options = { seqLen: s.seqLen, attention: s.attention, ...(s.routerCost ? { routerCost: s.routerCost } : {}), ...(step !== undefined ? { step } : {}) };
  return trainingFlops(config, options).total * s.batchSize * s.gradAccum;
}

/** Steps of the capacity warm-up (0 without one): the steps whose FLOPs differ from the rest. */
function warmupSteps(config: ModelConfig | ResolvedModelConfig): number {
  return asResolved(config).routing.capacityWarmup?.steps ?? 0;
}

/**
 * Training FLOPs of steps 0 .. steps - 1 of a run: the sum of each step's FLOPs (under a
 * capacity warm-up the first ones cost more), then, past the warm-up, steps times one step.
 */
export function runFlops(config: ModelConfig | ResolvedModelConfig, setting: StepSetting, steps: number): number {
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 0) throw new ConfigError("steps", steps, "must be an integer >= 0");
  const c = asResolved(config);
  const n = Math.min(steps, warmupSteps(c));
  let sum = 0;
  for (let t = 0; t < n; t++) sum += flopsPerStep(c, setting, t);
  return sum + (steps - n) * flopsPerStep(c, setting);
}

/** How many steps a config gets within a training-FLOPs budget (rounded down; a capacity warm-up's dearer steps counted one by one). */
export function planForBudget(config: ModelConfig | ResolvedModelConfig, budget: number, setting: StepSetting): Plan {
  if (typeof budget !== "number" || !Number.isFinite(budget) || budget <= 0) throw new ConfigError("budget", budget, "must be a finite number > 0");
  const s = check(setting);
  const c = asResolved(config);
  const per = flopsPerStep(c, s);
  // The warm-up, step by step, while the budget lasts; then whole steps of the target capacity.
  let steps = 0;
  let used = 0;
  for (const n = warmupSteps(c); steps < n; steps++) {
    const f = flopsPerStep(c, s, steps);
    if (used + f > budget) return { flopsPerStep: per, steps, tokens: steps * s.batchSize * s.gradAccum * s.seqLen, flopsUsed: used };
    used += f;
  }
  let more = Math.floor((budget - used) / per);
  // Above 2^53 the quotient and the product are rounded doubles: never report spending more than the budget.
  if (more > 0 && used + more * per > budget) more -= 1;
  steps += more;
  return { flopsPerStep: per, steps, tokens: steps * s.batchSize * s.gradAccum * s.seqLen, flopsUsed: used + more * per };
}

/** Training FLOPs of `steps` steps (a capacity warm-up counted exactly): the inverse of {@link planForBudget}. */
export function planForSteps(config: ModelConfig | ResolvedModelConfig, steps: number, setting: StepSetting): Plan {
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 0) throw new ConfigError("steps", steps, "must be an integer >= 0");
  const s = check(setting);
  const per = flopsPerStep(config, s);
  return { flopsPerStep: per, steps, tokens: steps * s.batchSize * s.gradAccum * s.seqLen, flopsUsed: runFlops(config, s, steps) };
}

export interface SweepInput {
  /** Training FLOPs budget each config gets. */
  budget: number;
  setting: StepSetting;
  /** Shared fields (vocab, context length, family, ...). */
  base: Omit<ModelConfig, "dModel" | "nLayers" | "nHeads" | "routing"> & Partial<Pick<ModelConfig, "routing">>;
  sizes: { name: string; dModel: number; nLayers: number; nHeads: number }[];
  /**
   * MoD capacities to try. Default: [base.routing.capacity], or [0.125] without one. The MoD
   * variants route base.routing.blocks (default "every-other") with base.routing.router
   * (default "learned"); they are never overwritten silently.
   */
  capacities?: number[];
  /** Include the stochastic-routing control at each capacity. Default true. */
  stochastic?: boolean;
  /**
   * The declared router cost of each planned config: `routerCost` of @mixdepth/router, for any
   * registered kind. Required: every sweep has routed variants, the stochastic control among them.
   */
  routerCost: (config: ResolvedModelConfig) => RouterCostOption;
}

export interface SweepEntry {
  name: string;
  variant: "dense" | "mod" | "stochastic";
  config: ModelConfig;
  plan: Plan;
}

/** The configs of an isoFLOP comparison (dense, learned MoD, stochastic MoD) with their step counts. */
export function isoFlopSweep(input: SweepInput): SweepEntry[] {
  const baseRouting = input.base.routing ?? {};
  const capacities = input.capacities ?? [baseRouting.capacity ?? 0.125];
  const blocks = baseRouting.blocks === undefined || baseRouting.blocks === "none" ? "every-other" : baseRouting.blocks;
  const router = baseRouting.router ?? "learned";
  if (router === "stochastic") {
    throw new ConfigError("base.routing.router", router, "is the control variant of every sweep; give the router of the MoD variants (default \"learned\")");
  }
  const out: SweepEntry[] = [];
  input.sizes.forEach((size, i) => {
    const shape = { ...input.base, dModel: size.dModel, nLayers: size.nLayers, nHeads: size.nHeads };
    const add = (name: string, variant: SweepEntry["variant"], config: ModelConfig) => {
      let resolved;
      try {
        resolved = asResolved(config);
      } catch (e) {
        // Say which size of the sweep is impossible, not just which field.
        if (e instanceof ConfigError) throw new ConfigError(`sizes[${i}] (${name}).${e.field}`, e.value, e.reason);
        throw e;
      }
      out.push({ name, variant, config, plan: planForBudget(resolved, input.budget, { ...input.setting, routerCost: input.routerCost(resolved) }) });
    };
    add(`${size.name}-dense`, "dense", { ...shape, routing: { ...input.base.routing, blocks: "none" } });
    for (const cap of capacities) {
      const pct = `${+(cap * 100).toFixed(1)}`;
      add(`${size.name}-mod${pct}`, "mod", { ...shape, routing: { ...baseRouting, blocks, capacity: cap, router } });
      if (input.stochastic ?? true) {
        add(`${size.name}-stochastic${pct}`, "stochastic", {
          ...shape,
          routing: { ...baseRouting, blocks, capacity: cap, router: "stochastic", routerOptions: {}, auxLoss: null, predictor: null, causal: "threshold" },
        });
      }
    }
  });
  return out;
}
