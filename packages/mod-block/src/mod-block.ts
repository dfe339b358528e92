// A Mixture-of-Depths block (mod-spec section 2): route, gather the k routed tokens in
// position order, run the block's branch on them only, scale by the router score, scatter
// back. Tokens not routed pass through on the residual stream unchanged.
//   top-k mode:   x_i <- x_i + r_i * f(X~)_i   for the k routed tokens of each sequence
//   causal mode:  the router's causal decision picks tokens; a skipped token is neither a
//                 query nor a key in this block (it writes no K/V), as in cached decoding
import * as tf from "@tensorflow/tfjs-core";
import { routedTokens, type CausalRouting, type ResolvedModelConfig } from "@mixdepth/core";
import { createRouter, registerBuiltinRouters, routerWeightShapes, type Router, type RouterContext } from "@mixdepth/router";
import { TransformerBlock, transformerBlockWeightShapes } from "./transformer-block.js";
import { gatherRows, gatherTokens, scatterAddTokens } from "./token-gather.js";

export type RoutingMode = "topk" | "causal";

/** Which tokens a block processed, as plain arrays (no tensors to dispose). */
export interface RoutingTrace {
  layer: number;
  mode: RoutingMode;
  /** Per sequence: processed positions, ascending. */
  processed: number[][];
  /** Router scores r, [B][S]. */
  scores: number[][];
  /** Causal mode: probability behind each decision, [B][S]. */
  probability?: number[][];
}

export interface ModBlockOutput {
  /** The new hidden state [B, S, d]; caller owns it. */
  x: tf.Tensor3D;
  /** Weighted auxiliary losses of this block's router; caller owns them. */
  auxLosses: Record<string, tf.Scalar>;
  /** Present for routed blocks. */
  trace?: RoutingTrace;
}

export interface ModBlockOptions {
  mode?: RoutingMode;
  /** Causal decision rule for mode "causal". Default: the config's routing.causal. */
  causal?: CausalRouting;
  /** Build a routing trace (reads scores back to the host). Default true. */
  trace?: boolean;
}

/** What the router of routed block `index` is created with (the one place that derives it). */
export function routerContext(config: ResolvedModelConfig, index: number, seed: number): RouterContext {
  const layer = config.layers[index];
  if (!layer) throw new RangeError(`block index ${index} out of range (nLayers ${config.nLayers})`);
  const r = config.routing;
  return {
    dModel: config.dModel,
    layerIndex: index,
    auxLoss: r.auxLoss,
    predictor: r.predictor,
    options: r.routerOptions,
    seed: (seed * 1000003 + index * 7919) >>> 0,
    capacity: layer.capacity,
  };
}

/**
 * Name -> shape of every weight of block `index` ("attn.qkv.w", "router.w", ...), in
 * {@link ModBlock.weights} order, from the config alone: no tensors are allocated. Router
 * weights come from the router registry; `null` for them means the router kind did not
 * declare its shapes (registerRouter's `weightShapes`), and then only the block part is known.
 */
export function blockWeightShapes(config: ResolvedModelConfig, index: number): { shapes: Map<string, number[]>; routerKnown: boolean } {
  const layer = config.layers[index];
  if (!layer) throw new RangeError(`block index ${index} out of range (nLayers ${config.nLayers})`);
  const shapes = new Map(transformerBlockWeightShapes(config));
  if (!layer.routed) return { shapes, routerKnown: true };
  registerBuiltinRouters();
  const router = routerWeightShapes(config.routing.router, routerContext(config, index, 0));
  for (const [k, s] of router ?? []) shapes.set(`router.${k}`, s);
  return { shapes, routerKnown: router !== null };
}

/** A block of the model: dense, or routed with its own router. Owns its variables. */
export class ModBlock {
  readonly block: TransformerBlock;
  readonly router: Router | null;
  readonly routed: boolean;
  readonly capacity: number;

  constructor(
    readonly config: ResolvedModelConfig,
    readonly index: number,
    rand: () => number,
    seed: number,
  ) {
    const layer = config.layers[index];
    if (!layer) throw new RangeError(`block index ${index} out of range (nLayers ${config.nLayers})`);
    this.routed = layer.routed;
    this.capacity = layer.capacity;
    this.block = new TransformerBlock(config, index, rand);
    if (this.routed) {
      registerBuiltinRouters();
      // Every routed block gets its own router (mod-spec section 8: never one shared router).
      this.router = createRouter(config.routing.router, routerContext(config, index, seed));
    } else {
      this.router = null;
    }
  }

  /** Tokens this block processes in a sequence of length S under top-k routing. */
  tokensFor(seqLen: number): number {
    return this.routed ? routedTokens(this.capacity, seqLen) : seqLen;
  }

  /** Weights by name relative to the block ("attn.qkv.w", "router.w", ...). */
  weights(): Map<string, tf.Variable> {
    const m = new Map(this.block.weights());
    if (this.router) for (const [k, v] of this.router.weights()) m.set(`router.${k}`, v);
    return m;
  }

  /** x: [B, S, d]; positions: [B, S] int32 original positions. */
  forward(x: tf.Tensor3D, positions: tf.Tensor2D, options: ModBlockOptions = {}): ModBlockOutput {
    if (!this.router) return { x: this.block.forward(x, positions), auxLosses: {} };
    const mode = options.mode ?? "topk";
    return mode === "topk" ? this.forwardTopk(x, positions, options.trace ?? true) : this.forwardCausal(x, positions, options);
  }

  private forwardTopk(x: tf.Tensor3D, positions: tf.Tensor2D, wantTrace: boolean): ModBlockOutput {
    const router = this.router as Router;
    const [, s] = x.shape;
    const k = routedTokens(this.capacity, s);
    const routed = router.route(x, k);
    try {
      const out = tf.tidy(() => {
        const xs = gatherTokens(x, routed.indices); // [B, k, d], position order
        const ps = gatherRows(positions, routed.indices); // original positions
        const f = this.block.branch(xs, ps).out; // attention + MLP on the routed tokens only
        const r = gatherTokens(tf.expandDims(routed.scores, 2) as tf.Tensor3D, routed.indices); // [B, k, 1]
        return scatterAddTokens(x, tf.mul(f, r) as tf.Tensor3D, routed.indices);
      });
      const trace: RoutingTrace | undefined = wantTrace
        ? {
            layer: this.index,
            mode: "topk",
            processed: routed.indices.arraySync() as number[][],
            scores: routed.scores.arraySync() as number[][],
          }
        : undefined;
      return { x: out, auxLosses: routed.auxLosses, ...(trace ? { trace } : {}) };
    } finally {
      tf.dispose([routed.scores, routed.indices]);
    }
  }

  private forwardCausal(x: tf.Tensor3D, positions: tf.Tensor2D, options: ModBlockOptions): ModBlockOutput {
    const router = this.router as Router;
    const decision = router.routeCausal(x, options.causal ?? this.config.routing.causal);
    // The decision is a comparison, which has no gradient: rebuilt from its values, it is a
    // constant for the tape, so gradients flow through the scores (gate) and the branch only.
    // The same host copy serves the trace.
    const selValues = decision.selected.dataSync();
    const selected = tf.tensor2d(selValues, decision.selected.shape, "bool");
    try {
      const out = tf.tidy(() => {
        const f = this.block.branch(x, positions, { keyMask: selected }).out;
        const gate = tf.mul(tf.cast(selected, "float32"), decision.scores); // r_i where processed, else 0
        return tf.add(x, tf.mul(f, tf.expandDims(gate, 2))) as tf.Tensor3D;
      });
      let trace: RoutingTrace | undefined;
      if (options.trace ?? true) {
        const [b, s] = decision.selected.shape;
        const sel = Array.from({ length: b }, (_, i) => Array.from(selValues.subarray(i * s, (i + 1) * s)));
        trace = {
          layer: this.index,
          mode: "causal",
          processed: sel.map((row) => row.flatMap((v, i) => (v ? [i] : []))),
          scores: decision.scores.arraySync() as number[][],
          probability: decision.probability.arraySync() as number[][],
        };
      }
      return { x: out, auxLosses: {}, ...(trace ? { trace } : {}) };
    } finally {
      tf.dispose([decision.scores, decision.selected, decision.probability, selected]);
    }
  }

  dispose(): void {
    this.block.dispose();
    this.router?.dispose();
  }
}
