export { ConfigError, MODEL_LIMITS, capacityAt, expertsAt, resolveModelConfig, routedTokens } from "./model-config.js";
export type {
  ArchitectureFamily,
  CausalRouting,
  ExpertRouting,
  ExpertsConfig,
  ModelConfig,
  ModelLimits,
  ResolvedExperts,
  ResolvedModelConfig,
  ResolvedRouting,
  RoutedBlocks,
  RoutingConfig,
  TrainRouting,
} from "./model-config.js";
export { Mulberry32, gaussian, mulberry32 } from "./rng.js";
export { SEED_PURPOSES, deriveSeed } from "./seed.js";
export type { SeedPurpose } from "./seed.js";
