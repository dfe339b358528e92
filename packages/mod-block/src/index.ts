export { ModBlock, blockWeightShapes } from "./mod-block.js";
export type { ExpertTrace, ModBlockOptions, ModBlockOutput, RoutingMode, RoutingObservation, RoutingTrace } from "./mod-block.js";
export { moeMlpWeightShapes } from "./moe-mlp.js";
export type { ExpertMode, ExpertRouting } from "./moe-mlp.js";
export { RouterOutputError } from "./router-checks.js";
export { transformerBlockWeightShapes } from "./transformer-block.js";
export type { KeyValues } from "./transformer-block.js";
export { layerNorm, rmsNorm } from "./layers.js";
// Types of dependencies that this package's signatures use.
export type { ArchitectureFamily, CausalRouting, ResolvedExperts, ResolvedModelConfig } from "@mixdepth/core";
export type { Router } from "@mixdepth/router";
