export { ModBlock } from "./mod-block.js";
export type { ModBlockOptions, ModBlockOutput, RoutingMode, RoutingObservation, RoutingTrace } from "./mod-block.js";
export type { KeyValues } from "./transformer-block.js";
export { layerNorm, rmsNorm } from "./layers.js";
export { fastMatMul } from "./fast-matmul.js";
