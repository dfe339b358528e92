// isoFLOP planning (docs/method.md section 5): every config of a comparison gets the same training
// FLOPs budget; cheaper-per-step configs (MoD) get more steps.
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

/** Training FLOPs of one optimizer step. */
export function flopsPerStep(config: ModelConfig | ResolvedModelConfig, setting: StepSetting): number {
  const s = check(setting);
  const options = { seqLen: s.seqLen, attention: s.attention, ...(s.routerCost ? { routerCost: s.routerCost } : {}) };
  return trainingFlops(config, options).total * s.batchSize * s.gradAccum;
}

/** How many steps a config gets within a training-FLOPs budget (rounded down). */
export function planForBudget(config: ModelConfig | ResolvedModelConfig, budget: number, setting: StepSetting): Plan {
  if (typeof budget !== "number" || !Number.isFinite(budget) || budget <= 0) throw new ConfigError("budget", budget, "must be a finite number > 0");
  const s = check(setting);
  const per = flopsPerStep(config, s);
  let steps = Math.floor(budget / per);
  // Above 2^53 the quotient and the product are rounded doubles: never report spending more than the budget.
  if (steps > 0 && steps * per > budget) steps -= 1;
  return { flopsPerStep: per, steps, tokens: steps * s.batchSize * s.gradAccum * s.seqLen, flopsUsed: steps * per };
}

/** Training FLOPs of `steps` steps: the inverse of {@link planForBudget}. */
export function planForSteps(config: ModelConfig | ResolvedModelConfig, steps: number, setting: StepSetting): Plan {
  if (typeof steps !== "number" || !Number.isInteger(steps) || steps < 0) throw new ConfigError("steps", steps, "must be an integer >= 0");
  const s = check(setting);
  const per = flopsPerStep(config, s);
  return { flopsPerStep: per, steps, tokens: steps * s.batchSize * s.gradAccum * s.seqLen, flopsUsed: steps * per };
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
