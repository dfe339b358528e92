export { ConfigError, MAX_LAYERS, expertsAt, resolveModelConfig, routedTokens } from "./model-config.js";
export type {
  ArchitectureFamily,
  CausalRouting,
  ExpertRouting,
  ExpertsConfig,
  ModelConfig,
  ResolvedExperts,
  ResolvedModelConfig,
  ResolvedRouting,
  RoutedBlocks,
  RoutingConfig,
} from "./model-config.js";
export { Mulberry32, gaussian, mulberry32 } from "./rng.js";
