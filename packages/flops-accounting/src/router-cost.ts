// What one router costs, as plain numbers (docs/method.md section 7). A router kind declares its
// cost when it is registered (@mixdepth/router, whose routerCost(config) is the one place that
// decides what a kind without a declaration costs); this package only does the arithmetic, so
// it never needs to know a kind by name or build a tensor. The cost is required wherever a
// config has routed blocks: a count without it is an error, never a silent default (the
// stochastic control used to be counted as a linear router that way).
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
 * The cost of a linear router w [d, 1] (2d FLOPs per token) and, when `predictor` is set, its
 * MLP w1 [d, h] + b1 [h] + w2 [h, 1] + b2 [1] (2(d h + h) FLOPs per token): the learned router's
 * declaration, and what @mixdepth/router counts for a kind that declares none.
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

/** The validated declared cost of the router of block `layerIndex`; throws when none is given. */
export function routerCostAt(c: ResolvedModelConfig, layerIndex: number, option: RouterCostOption | undefined): Required<RouterCost> {
  if (option === undefined) {
    throw new ConfigError(
      "routerCost",
      option,
      `is required: block ${layerIndex} is routed (routing.router ${JSON.stringify(c.routing.router)}); pass what the kind declares, routerCost(config) of @mixdepth/router (linearRouterCost(dModel, predictor) is the learned router's)`,
    );
  }
  return checkCost(typeof option === "function" ? option(layerIndex) : option, layerIndex);
}
