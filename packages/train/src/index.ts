export { AdamW, decayRule } from "./adamw.js";
export type { AdamWOptions, AdamWState } from "./adamw.js";
export { learningRate } from "./schedule.js";
export type { Schedule } from "./schedule.js";
export { clipByGlobalNorm } from "./clip.js";
export { GradientAccumulator } from "./grad-accum.js";
export { trainableWeights, valueAndGrads } from "./grads.js";
export { lossAndGrads, NonFiniteError, poolRouting, trainStep } from "./train-step.js";
export type { ForwardPass, LossAndGrads, LossOptions, MicroBatchResult, TrainStepParts, TrainStepResult, TrainStepSettings } from "./train-step.js";
export { evaluate } from "./evaluate.js";
export type { EvalResult, LayerRouting } from "./evaluate.js";
export { batchTensors, DataError, evalBatches, randomBatch } from "./batcher.js";
export type { Batch } from "./batcher.js";
// The batcher's seeded generator (its state is one integer a checkpoint saves).
export { Mulberry32 } from "@mixdepth/core";
// Types of dependencies that this package's signatures use.
export type { Transformer } from "@mixdepth/transformer";
