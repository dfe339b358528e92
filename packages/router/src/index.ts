export {
  checkRouterConfig,
  createRouter,
  listRouters,
  registerBuiltinRouters,
  registerRouter,
  routerContext,
  routerCost,
  routerWeightShapes,
  unregisterRouter,
} from "./registry.js";
export type { RegisterRouterOptions, RouterWeightShapes } from "./registry.js";
export { routerRegistry } from "./plugin.js";
export type { RouterPlugin, RouterRegistry } from "./plugin.js";
export { LearnedRouter, createLearnedRouter, learnedRouterWeightShapes } from "./learned-router.js";
export type { LearnedRouterOptions } from "./learned-router.js";
export { StochasticRouter, createStochasticRouter, type StochasticRouterOptions } from "./stochastic-router.js";
export { combineAgreements, routingAgreement } from "./agreement.js";
export type { RoutingAgreement } from "./agreement.js";
export { topkPositions } from "./topk.js";
export { causalDecisions, thresholdRoute, topkRoute } from "./decisions.js";
export { stopGradient } from "./stop-gradient.js";
export { bceWithLogits } from "./bce.js";
export type { CausalRouteResult, Router, RouteResult, RouterContext, RouterDeclaration, RouterFactory, RouterJSON } from "./router.js";
export type { RouterCost } from "@mixdepth/flops-accounting";
// Types of dependencies that this package's signatures use.
export type { CausalRouting, ResolvedModelConfig } from "@mixdepth/core";
