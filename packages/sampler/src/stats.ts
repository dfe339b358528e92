// Routing statistics (docs/method.md section 3): the realized routed fraction of each routed block
// against its nominal capacity, and how well the causal decision (threshold or predictor)
// agrees with training-time top-k routing under teacher forcing.
import * as tf from "@tensorflow/tfjs-core";
import { routedTokens, type CausalRouting } from "@mixdepth/core";
import type { Transformer } from "@mixdepth/transformer";
import type { TokenRouting } from "./decoder.js";
import { routingAgreement, type RoutingAgreement } from "@mixdepth/router";

/** Realized vs nominal routing of one routed block. */
export interface RoutedFraction {
  layer: number;
  /** Nominal capacity (fraction of tokens top-k routes in training). */
  capacity: number;
  /** Tokens the block processed. */
  processed: number;
  /** Tokens that reached the block (processed or skipped). */
  tokens: number;
  /** processed / tokens (NaN before any token). */
  fraction: number;
  /** fraction / capacity: 1 means the causal decision routes exactly the nominal share. */
  ratio: number;
}

/** Counts processed/seen tokens per routed block over decoder outputs. */
export class RoutingCounter {
  private readonly counts = new Map<number, { processed: number; tokens: number }>();

  constructor(private readonly model: Transformer) {
    for (const b of model.blocks) if (b.routed) this.counts.set(b.block.index, { processed: 0, tokens: 0 });
  }

  /** Adds the decisions of one decoder call. */
  add(routing: readonly TokenRouting[]): void {
    for (const r of routing) {
      const c = this.counts.get(r.layer);
      if (!c) throw new RangeError(`RoutingCounter: block ${r.layer} is not a routed block of this model`);
      c.tokens += r.processed.length;
      c.processed += r.processed.filter(Boolean).length;
    }
  }

  /** One entry per routed block, in layer order. */
  fractions(): RoutedFraction[] {
    return [...this.counts.entries()].map(([layer, c]) => {
      const capacity = this.model.config.layers[layer]?.capacity ?? NaN;
      const fraction = c.tokens ? c.processed / c.tokens : NaN;
      return { layer, capacity, processed: c.processed, tokens: c.tokens, fraction, ratio: fraction / capacity };
    });
  }
}

/**
 * Confusion counts of the causal decision, "in the top-k" being the positive class, for one
 * routed block (`layer`; -1 for the pooled total). Precision is NaN when the rule routes nothing.
 */
export interface CausalAgreement extends RoutingAgreement {
  layer: number;
}

function agreement(layer: number, causal: ArrayLike<number>, topk: ArrayLike<number>, batch: number, seqLen: number): CausalAgreement {
  return { layer, ...routingAgreement(causal, topk, batch, seqLen) };
}

/**
 * Teacher forcing over `tokens` [B, S] (S <= contextLength): runs the model with
 * training-time top-k routing and, at every routed block, also asks the router for its
 * causal decision (`causal`, default the config's) ON THE SAME block input. Returns one
 * agreement per routed block plus their pooled total (layer -1). Frees what it makes.
 */
export function causalRoutingAgreement(
  model: Transformer,
  tokens: tf.Tensor2D,
  options: { causal?: CausalRouting } = {},
): { blocks: CausalAgreement[]; total: CausalAgreement } {
  const c = model.config;
  const mode = options.causal ?? c.routing.causal;
  if (tokens.rank !== 2) throw new RangeError(`tokens: expected [B, S] int32 (got shape [${tokens.shape.join(", ")}])`);
  const [batch, seqLen] = tokens.shape;
  if (seqLen > c.contextLength) throw new RangeError(`tokens: sequence length ${seqLen} exceeds contextLength ${c.contextLength}`);
  const blocks: CausalAgreement[] = [];
  const all = { tp: 0, fp: 0, fn: 0, tn: 0 };
  tf.tidy(() => {
    const d = c.dModel;
    const w = model.getWeights();
    const ids = tf.reshape(tf.cast(tokens, "int32"), [batch * seqLen]) as tf.Tensor1D;
    let x = tf.reshape(tf.gather(w.get("tok_emb") as tf.Tensor2D, ids, 0), [batch, seqLen, d]) as tf.Tensor3D;
    if (c.family === "gpt2") x = tf.add(x, tf.slice(w.get("pos_emb") as tf.Tensor2D, [0, 0], [seqLen, d])) as tf.Tensor3D;
    const positions = tf.tile(tf.reshape(tf.range(0, seqLen, 1, "int32"), [1, seqLen]), [batch, 1]) as tf.Tensor2D;
    for (const block of model.blocks) {
      if (block.router) {
        const k = routedTokens(block.capacity, seqLen);
        const routed = block.router.route(x, k);
        const decision = block.router.routeCausal(x, mode);
        const a = agreement(block.index, decision.selected.dataSync(), routed.indices.dataSync(), batch, seqLen);
        blocks.push(a);
        all.tp += a.tp;
        all.fp += a.fp;
        all.fn += a.fn;
        all.tn += a.tn;
      }
      x = block.forward(x, positions, { mode: "topk", trace: false }).x;
    }
  });
  const n = all.tp + all.fp + all.fn + all.tn;
  const total: CausalAgreement = {
    layer: -1,
    ...all,
    accuracy: (all.tp + all.tn) / n,
    precision: all.tp / (all.tp + all.fp),
    recall: all.tp / (all.tp + all.fn),
    routedFraction: (all.tp + all.fp) / n,
    targetFraction: (all.tp + all.fn) / n,
  };
  return { blocks, total };
}
