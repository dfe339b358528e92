export { ConfigError, MAX_LAYERS, resolveModelConfig, routedTokens } from "./model-config.js";
export type {
  ArchitectureFamily,
  CausalRouting,
  ModelConfig,
  ResolvedModelConfig,
  ResolvedRouting,
  RoutedBlocks,
  RoutingConfig,
} from "./model-config.js";
export { Mulberry32, gaussian, mulberry32 } from "./rng.js";
