export { ModBlock } from "./mod-block.js";
export type { ModBlockOptions, ModBlockOutput, RoutingMode, RoutingTrace } from "./mod-block.js";
export { TransformerBlock } from "./transformer-block.js";
export type { BranchOptions, BranchResult, KeyValues } from "./transformer-block.js";
export { flatIndices, gatherRows, gatherTokens, scatterAddTokens } from "./token-gather.js";
export { MASKED, causalMask, constParam, gelu, layerNorm, linear, normalParam, rmsNorm, rotary, silu } from "./layers.js";
