// What one router costs, as plain numbers (docs/method.md section 7). A router kind declares its
// cost when it is registered (@mixdepth/router); this package only does the arithmetic, so it
// never needs to know a kind by name or build a tensor. Without a declared cost, a routed block
// is counted with the default: a linear d -> 1 router (x @ w) plus the predictor MLP
// d -> h_p -> 1 when routing.predictor is enabled, which is exactly the learned router.
import { ConfigError, type ResolvedModelConfig } from "@mixdepth/core";

/** Parameters and matmul FLOPs of ONE router (one routed block). */
export interface RouterCost {
  /** Trainable parameters of the router, its predictor included. */
  params: number;
  /** Matmul FLOPs per token of the router scores; they run on every token, in training and at sampling time. */
  flopsPerToken: number;
  /**
   * Matmul FLOPs per token of an auxiliary causal predictor, if the router has one: it runs on
   * every token in training (for its loss) and at sampling time only when routing.causal is
   * "predictor". Default 0.
   */
  predictorFlopsPerToken?: number;
}

/** One cost for every routed block, or a cost per block index. */
export type RouterCostOption = RouterCost | ((layerIndex: number) => RouterCost);

/**
 * The default cost: a linear router w [d, 1] (2d FLOPs per token) and, when `predictor` is
 * set, its MLP w1 [d, h] + b1 [h] + w2 [h, 1] + b2 [1] (2(d h + h) FLOPs per token).
 */
export function linearRouterCost(dModel: number, predictor: { hidden: number } | null): RouterCost {
  const h = predictor?.hidden ?? 0;
  return {
    params: dModel + (predictor ? dModel * h + h + h + 1 : 0),
    flopsPerToken: 2 * dModel, // [1, d] x [d, 1]
    predictorFlopsPerToken: predictor ? 2 * (dModel * h + h) : 0, // [1, d] x [d, h], then [1, h] x [h, 1]
  };
}

function checkCost(cost: unknown, layerIndex: number): Required<RouterCost> {
  const field = `routerCost (block ${layerIndex})`;
  if (cost === null || typeof cost !== "object") throw new ConfigError(field, cost, "must be { params, flopsPerToken, predictorFlopsPerToken? }");
  const c = cost as Record<string, unknown>;
  const num = (key: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new ConfigError(`${field}.${key}`, v, "must be a finite number >= 0");
    return v;
  };
  return {
    params: num("params", c.params),
    flopsPerToken: num("flopsPerToken", c.flopsPerToken),
    predictorFlopsPerToken: num("predictorFlopsPerToken", c.predictorFlopsPerToken ?? 0),
  };
}

/** The validated cost of the router of block `layerIndex`: the declared one, or the default. */
export function routerCostAt(c: ResolvedModelConfig, layerIndex: number, option: RouterCostOption | undefined): Required<RouterCost> {
  const declared = option === undefined ? linearRouterCost(c.dModel, c.routing.predictor) : typeof option === "function" ? option(layerIndex) : option;
  return checkCost(declared, layerIndex);
}
