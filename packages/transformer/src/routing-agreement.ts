// How well the causal decision (threshold or predictor) agrees with training-time top-k
// routing, per routed block, on the SAME block input (docs/method.md section 3). Computed from the
// observations Transformer.forward yields, so nobody rebuilds the forward pass to get the
// block inputs: the trainer's eval and the sampler's stats both count through here.
import type * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import type { RoutingObservation } from "@mixdepth/mod-block";
import { combineAgreements, routingAgreement, type RoutingAgreement } from "@mixdepth/router";
import type { Transformer } from "./transformer.js";

/** Confusion counts of the causal decision ("in the top-k" = positive) for one routed block (`layer`; -1 pooled). */
export interface CausalAgreement extends RoutingAgreement {
  layer: number;
}

/**
 * Accumulates agreement over any number of top-k forward passes: pass `observe` as the
 * `observe` option of `forward` or `loss` (routing "topk"), then read `blocks()` / `total()`.
 * Causal-mode passes carry no top-k choice and are not counted.
 */
export class RoutingAgreementCounter {
  private readonly parts = new Map<number, RoutingAgreement[]>();

  readonly observe = (o: RoutingObservation): void => {
    if (!o.topk) return;
    const [batch, seqLen] = o.input.shape;
    const list = this.parts.get(o.layer) ?? [];
    list.push(routingAgreement(o.causal.selected, o.topk.positions, batch, seqLen));
    this.parts.set(o.layer, list);
  };

  /** One entry per routed block seen, in layer order, pooled over every observed pass. */
  blocks(): CausalAgreement[] {
    return [...this.parts.entries()].sort(([a], [b]) => a - b).map(([layer, list]) => ({ layer, ...combineAgreements(list) }));
  }

  /** Every block and pass pooled (layer -1). Rates are NaN before any observation. */
  total(): CausalAgreement {
    return { layer: -1, ...combineAgreements([...this.parts.values()].flat()) };
  }
}

/**
 * Teacher forcing over `tokens` [B, S] (S <= contextLength): one forward pass with top-k
 * routing that, at every routed block, also takes the router's causal decision (`causal`,
 * default the config's) on the same block input. One agreement per routed block plus their
 * pooled total (layer -1). Frees what it makes.
 */
export function causalRoutingAgreement(
  model: Transformer,
  tokens: tf.Tensor2D,
  options: { causal?: CausalRouting } = {},
): { blocks: CausalAgreement[]; total: CausalAgreement } {
  const counter = new RoutingAgreementCounter();
  const out = model.forward(tokens, { routing: "topk", ...(options.causal ? { causal: options.causal } : {}), observe: counter.observe });
  out.logits.dispose();
  for (const v of Object.values(out.auxLosses)) v.dispose();
  return { blocks: counter.blocks(), total: counter.total() };
}
