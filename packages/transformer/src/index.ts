export { Transformer, createTransformer, fromWeights, EMBEDDING_INIT_STD } from "./transformer.js";
export type { ForwardOptions, ForwardResult, LossResult, TransformerOptions } from "./transformer.js";
export { KVCache } from "./kv-cache.js";
export { RoutingAgreementCounter, causalRoutingAgreement } from "./routing-agreement.js";
export type { CausalAgreement } from "./routing-agreement.js";
export { routingTable } from "./routing-table.js";
export type { BlockVisit, RoutingTableShape, TokenVisits } from "./routing-table.js";
export type { ExpertTrace, KeyValues, RoutingMode, RoutingObservation, RoutingTrace } from "@mixdepth/mod-block";
export { crossEntropy } from "./loss.js";
export { kernelMatmulFlops } from "./kernel-flops.js";
export type { KernelMatmulFlops, ProfiledKernel } from "./kernel-flops.js";
export { encodeSafetensors, decodeSafetensors, SafetensorsError } from "./safetensors.js";
export type { DecodedSafetensors, SafetensorsDtype, SafetensorsTensor } from "./safetensors.js";
export { parseSafetensorsHeader, safetensorsHeaderLength } from "./safetensors.js";
export type { SafetensorsEntry, SafetensorsHeader } from "./safetensors.js";
export { modelWeightShapes, topLevelWeightShapes } from "./weight-shapes.js";
export type { ModelWeightShapes } from "./weight-shapes.js";
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_LIMITS,
  CheckpointError,
  checkWeightsHeader,
  checkpointLimits,
  checkpointModelConfig,
  checkpointToModel,
  parseCheckpoint,
  parseCheckpointConfig,
} from "./model-io.js";
export type { CheckpointLimits, CheckpointReadOptions, ParsedCheckpoint } from "./model-io.js";
// Types of dependencies that this package's signatures use.
export type { CausalRouting, ModelConfig, ResolvedModelConfig } from "@mixdepth/core";
export type { RoutingAgreement } from "@mixdepth/router";
