export {
  BACKWARD_FACTOR,
  asResolved,
  denseCounterpart,
  forwardFlops,
  modVsDense,
  prefillFlops,
  samplingFlopsPerToken,
  trainingFlops,
} from "./flops.js";
export type {
  AttentionCounting,
  BlockFlops,
  FlopsOptions,
  ForwardFlops,
  ModVsDense,
  SamplingFlops,
  SamplingOptions,
  TrainingFlops,
} from "./flops.js";
export { paramCounts, sixNApproximation } from "./params.js";
export type { Approximation, ParamCounts } from "./params.js";
export { flopsPerStep, isoFlopSweep, planForBudget, planForSteps, runFlops } from "./planner.js";
export type { Plan, StepSetting, SweepEntry, SweepInput } from "./planner.js";
// Types of @mixdepth/core that this package's signatures use, so users need not import core.
export type { CausalRouting, ModelConfig, ResolvedModelConfig } from "@mixdepth/core";
export { linearRouterCost } from "./router-cost.js";
export type { RouterCost, RouterCostOption } from "./router-cost.js";
export { memoryEstimate } from "./memory.js";
export type { MemoryEstimate, MemorySetting } from "./memory.js";
