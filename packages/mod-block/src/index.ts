export { ModBlock, blockWeightShapes } from "./mod-block.js";
export type { ModBlockOptions, ModBlockOutput, RoutingMode, RoutingObservation, RoutingTrace } from "./mod-block.js";
export { transformerBlockWeightShapes } from "./transformer-block.js";
export type { KeyValues } from "./transformer-block.js";
export { layerNorm, rmsNorm } from "./layers.js";
// Types of dependencies that this package's signatures use.
export type { CausalRouting, ResolvedModelConfig } from "@mixdepth/core";
export type { Router } from "@mixdepth/router";
