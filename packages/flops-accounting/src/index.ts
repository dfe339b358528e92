export { resolveModelConfig, routedTokens, ConfigError } from "./model-config.js";
export type {
  ArchitectureFamily,
  CausalRouting,
  ModelConfig,
  ResolvedModelConfig,
  ResolvedRouting,
  RoutedBlocks,
  RoutingConfig,
} from "./model-config.js";
