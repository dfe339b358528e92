export {
  BACKWARD_FACTOR,
  asResolved,
  denseCounterpart,
  forwardFlops,
  hasRouterWeights,
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
export { flopsPerStep, isoFlopSweep, planForBudget, planForSteps } from "./planner.js";
export type { Plan, StepSetting, SweepEntry, SweepInput } from "./planner.js";
export { memoryEstimate } from "./memory.js";
export type { MemoryEstimate, MemorySetting } from "./memory.js";
