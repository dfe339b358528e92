// A Mixture-of-Depths block (docs/method.md section 2): route, gather the routed tokens in
// position order, run the block's branch on them only, scale by the router score, scatter
// back. Tokens not routed pass through on the residual stream unchanged.
//   top-k mode:   x_i <- x_i + r_i * f(X~)_i   for the k routed tokens of each sequence
//   causal mode:  the router's causal decision picks tokens; a skipped token is neither a
//                 query nor a key in this block (it writes no K/V)
// ONE implementation serves training (top-k), the causal forward and cached decoding: the
// router's decision arrives on the host, the chosen tokens are gathered (rows of a batch
// that chose fewer tokens are padded with skipped ones, masked out and gated to 0), and
// with a KV cache the gathered tokens also attend to, and are appended to, what this block
// cached before. Dense blocks are the same path with every token chosen.
// MoDE (docs/method.md section 6): a block whose MLP is a mixture of experts (config.experts)
// is the same path; with a MoD router too it is staged MoDE (the MoD router picks the tokens
// that enter the block, then the experts choose among those), without one it is MoE, or
// integrated MoDE when it has no-op experts (attention runs on every token).
// Routing options of the follow-ups (docs/method.md section 6, routing options from the follow-ups): under routing.capacityWarmup
// the top-k capacity of a training pass is capacityAt(routing, step) (Mixture-of-Recursions);
// with routing.train "threshold" a training pass processes the tokens whose router probability
// exceeds routing.threshold (MoDification): the causal path's gather, padded to the row with the
// most tokens, so its shapes change from step to step.
import * as tf from "@tensorflow/tfjs-core";
import { capacityAt, deriveSeed, routedTokens, type CausalRouting, type ResolvedModelConfig } from "@mixdepth/core";
import { createRouter, registerBuiltinRouters, routerContext, routerWeightShapes, type Router } from "@mixdepth/router";
import { TransformerBlock, transformerBlockWeightShapes, type BranchResult, type KeyValues } from "./transformer-block.js";
import { gatherTokens, scatterAddTokens } from "./token-gather.js";
import { checkCausalResult, checkRouteResult, resultTensors, RouterOutputError } from "./router-checks.js";

export type RoutingMode = "topk" | "causal";

/** Which tokens a block processed, as plain arrays (no tensors to dispose). */
export interface RoutingTrace {
  layer: number;
  mode: RoutingMode;
  /** Per sequence: processed positions (original positions), ascending. */
  processed: number[][];
  /** Router scores r, [B][S]. */
  scores: number[][];
  /** Causal mode: probability behind each decision, [B][S]. */
  probability?: number[][];
}

/**
 * What evaluation needs from one routed block of one forward pass: its input, the top-k
 * choice (top-k mode) and the causal decision on the SAME input.
 */
export interface RoutingObservation {
  layer: number;
  /** The block input [B, S, d]. Valid only during the callback: do not dispose or keep it. */
  input: tf.Tensor3D;
  /** Original position of the input's first token. */
  start: number;
  /** Top-k mode: k and the chosen token indices [B * k] (row-major, ascending); null in causal mode. */
  topk: { k: number; positions: Int32Array } | null;
  /** The causal decision (`ModBlockOptions.causal`) on this input, [B * S] row-major host arrays. */
  causal: { selected: Uint8Array; probability: Float32Array; scores: Float32Array };
}

/** Which tokens each real expert of an MoE MLP processed, as plain arrays. */
export interface ExpertTrace {
  layer: number;
  mode: RoutingMode;
  /** Per real expert, per sequence: original positions of the tokens it processed, ascending. */
  processed: number[][][];
}

export interface ModBlockOutput {
  /** The new hidden state [B, S, d]; caller owns it. */
  x: tf.Tensor3D;
  /**
   * Tokens per sequence the block's branch ran on: S (dense), k (top-k), or the most any row
   * chose (causal and threshold routing; shorter rows are padded, and the padding is computed
   * too). What the FLOPs accounting's `blockTokens` option takes, so measured FLOPs equal the
   * executed kernels.
   */
  tokens: number;
  /** Weighted auxiliary losses of this block's router (top-k mode); caller owns them. */
  auxLosses: Record<string, tf.Scalar>;
  /** With `trace`, for routed blocks. */
  trace?: RoutingTrace;
  /** With `trace`, for blocks with an MoE MLP. */
  experts?: ExpertTrace;
  /**
   * With `cache`: this block's keys/values after the call (the past ones followed by those of
   * the tokens it processed; new tensors the caller owns), or `cache.past` itself when the
   * block processed no token.
   */
  kv?: KeyValues | null;
}

export interface ModBlockOptions {
  /** "topk" (training-time expert choice; default) or "causal" (sampling-time decision). */
  mode?: RoutingMode;
  /** Causal decision rule (mode "causal", and the observation). Default: the config's routing.causal. */
  causal?: CausalRouting;
  /** Original position of x's first token; the tokens sit at start, start + 1, ... Default 0. */
  start?: number;
  /** Incremental decoding: this block's cached keys/values of earlier tokens (null: none yet). */
  cache?: { past: KeyValues | null };
  /** Build a routing trace (host arrays the router already made; no readback). Default false. */
  trace?: boolean;
  /** Called once per routed block with what evaluation needs (see {@link RoutingObservation}). */
  observe?: (o: RoutingObservation) => void;
  /**
   * The training step (0-based) of this pass: under routing.capacityWarmup it sets the top-k
   * capacity (capacityAt). Default none: the target capacity (evaluation, sampling).
   */
  step?: number;
}

/** The tokens a block processes: per row, `n` token indices (padding marked invalid). */
interface Selection {
  n: number;
  /** [B * n] token indices into x; per row the chosen ones ascending, then padding. */
  index: Int32Array;
  /** [B * n]: 0 at padding; null when no row is padded. */
  valid: Uint8Array | null;
  /** Every token of every row is chosen (no gather needed). */
  all: boolean;
}

function everyToken(batch: number, seqLen: number): Selection {
  const index = new Int32Array(batch * seqLen);
  for (let i = 0; i < index.length; i++) index[i] = i % seqLen;
  return { n: seqLen, index, valid: null, all: true };
}

/** Rows of a causal decision [B * S] as a selection padded to the longest row. */
function fromDecisions(selected: Uint8Array, batch: number, seqLen: number): Selection {
  const counts = Array.from({ length: batch }, (_, b) => selected.subarray(b * seqLen, (b + 1) * seqLen).reduce((a, v) => a + (v ? 1 : 0), 0));
  const n = Math.max(...counts);
  if (counts.every((c) => c === seqLen)) return everyToken(batch, seqLen);
  const index = new Int32Array(batch * n);
  const padded = counts.some((c) => c < n);
  const valid = padded ? new Uint8Array(batch * n) : null;
  for (let b = 0; b < batch; b++) {
    let j = b * n;
    for (let i = 0; i < seqLen; i++) if (selected[b * seqLen + i]) index[j++] = i;
    // Padding: skipped tokens of this row (unique, so the scatter stays one-to-one).
    for (let i = 0; i < seqLen && j < (b + 1) * n; i++) if (!selected[b * seqLen + i]) index[j++] = i;
    if (valid) valid.fill(1, b * n, b * n + (counts[b] as number));
  }
  return { n, index, valid, all: false };
}

function withExperts(out: ModBlockOutput, experts: ExpertTrace | undefined): ModBlockOutput {
  if (experts) out.experts = experts;
  return out;
}

/** Host [B * S] row-major -> [B][S] (for traces). */
function rowsOf(a: ArrayLike<number>, batch: number): number[][] {
  const n = a.length / batch;
  return Array.from({ length: batch }, (_, b) => Array.from(a).slice(b * n, (b + 1) * n));
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
  const shapes = new Map(transformerBlockWeightShapes(config, index));
  if (!layer.routed) return { shapes, routerKnown: true };
  registerBuiltinRouters();
  const router = routerWeightShapes(config.routing.router, routerContext(config, index));
  for (const [k, s] of router ?? []) shapes.set(`router.${k}`, s);
  return { shapes, routerKnown: router !== null };
}

/** A block of the model: dense, or routed with its own router. Owns its variables. */
export class ModBlock {
  private readonly block: TransformerBlock;
  private readonly router: Router | null;
  readonly routed: boolean;
  readonly capacity: number;

  constructor(
    private readonly config: ResolvedModelConfig,
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
      // Every routed block gets its own router (docs/method.md section 8: never one shared router).
      try {
        this.router = createRouter(config.routing.router, routerContext(config, index, deriveSeed(seed, "block-router", index)));
      } catch (e) {
        this.block.dispose();
        // An unknown kind or bad options are ConfigErrors; anything else is the router's fault
        // (a factory that throws, weights unlike its declared weightShapes).
        if ((e as Error).name === "ConfigError") throw e;
        throw new RouterOutputError(`block ${index}: the "${config.routing.router}" router could not be created: ${(e as Error).message}`);
      }
    } else {
      this.router = null;
    }
  }

  /** Weights by name relative to the block ("attn.qkv.w", "router.w", ...). */
  weights(): Map<string, tf.Variable> {
    const m = new Map(this.block.weights());
    if (this.router) for (const [k, v] of this.router.weights()) m.set(`router.${k}`, v);
    return m;
  }

  /** The router's host-side state (see Router.getState), or undefined when it has none. */
  getRouterState(): unknown {
    return this.router?.getState?.();
  }

  /** Restores {@link getRouterState}. Throws when this block's router keeps no state. */
  setRouterState(state: unknown): void {
    if (!this.router?.setState) throw new Error(`block ${this.index}: no router with state`);
    this.router.setState(state);
  }

  /** Whether this block's router keeps host-side state (Router.getState). */
  get hasRouterState(): boolean {
    return Boolean(this.router?.getState);
  }

  /**
   * x: [B, S, d] at positions start.. start + S - 1. Routed blocks make at most one host
   * readback (the router's), plus one more with `observe` in top-k mode (the causal decision).
   */
  forward(x: tf.Tensor3D, options: ModBlockOptions = {}): ModBlockOutput {
    const [b, s] = x.shape;
    const start = options.start ?? 0;
    const mode = options.mode ?? "topk";
    const cache = options.cache;
    const trace = options.trace ?? false;
    const router = this.router;
    if (!router) return this.apply(x, null, everyToken(b, s), start, cache, {}, mode, trace);
    const causal = options.causal ?? this.config.routing.causal;
    if (mode === "topk") {
      if (cache) throw new Error('ModBlock.forward: a KV cache needs routing "causal" (top-k looks at the whole sequence)');
      if (this.config.routing.train === "threshold") return this.byThreshold(x, start, trace, options.observe);
      const k = routedTokens(capacityAt(this.config.routing, options.step), s);
      const routed = this.checked(() => router.route(x, k), (r) => checkRouteResult(r, router.kind, this.index, b, s, k));
      try {
        if (options.observe) {
          const c = this.checked(() => router.routeCausal(x, causal), (r) => checkCausalResult(r, router.kind, this.index, b, s));
          c.scores.dispose();
          options.observe({ layer: this.index, input: x, start, topk: { k, positions: routed.positions }, causal: { selected: c.selected, probability: c.probability, scores: c.hostScores } });
        }
        const sel: Selection = k === s ? everyToken(b, s) : { n: k, index: routed.positions, valid: null, all: false };
        const out = this.apply(x, routed.scores, sel, start, undefined, routed.auxLosses, mode, trace);
        if (options.trace) {
          out.trace = { layer: this.index, mode, processed: rowsOf(routed.positions, b).map((r) => r.map((i) => start + i)), scores: rowsOf(routed.hostScores, b) };
        }
        return out;
      } catch (err) {
        tf.dispose(Object.values(routed.auxLosses));
        throw err;
      } finally {
        routed.scores.dispose();
      }
    }
    const decision = this.checked(() => router.routeCausal(x, causal), (r) => checkCausalResult(r, router.kind, this.index, b, s));
    try {
      options.observe?.({ layer: this.index, input: x, start, topk: null, causal: { selected: decision.selected, probability: decision.probability, scores: decision.hostScores } });
      const out = this.apply(x, decision.scores, fromDecisions(decision.selected, b, s), start, cache, {}, mode, trace);
      if (options.trace) {
        out.trace = {
          layer: this.index,
          mode,
          processed: rowsOf(decision.selected, b).map((r) => r.flatMap((v, i) => (v ? [start + i] : []))),
          scores: rowsOf(decision.hostScores, b),
          probability: rowsOf(decision.probability, b),
        };
      }
      return out;
    } finally {
      decision.scores.dispose();
    }
  }

  /** A router call whose result passed `check` (router-checks.ts); a refused result's tensors are freed. */
  private checked<R>(call: () => R, check: (r: R) => void): R {
    const r = call();
    try {
      check(r);
    } catch (e) {
      tf.dispose(resultTensors(r));
      throw e;
    }
    return r;
  }

  /**
   * Threshold training (MoDification): every token whose router probability exceeds
   * routing.threshold, gated by its router score as in top-k. The router's causal "threshold"
   * pass gives the scores (differentiable) and the probabilities (host) in one readback.
   */
  private byThreshold(x: tf.Tensor3D, start: number, trace: boolean, observe: ModBlockOptions["observe"]): ModBlockOutput {
    const [b, s] = x.shape;
    const router = this.router as Router;
    const decision = this.checked(() => router.routeCausal(x, "threshold"), (r) => checkCausalResult(r, router.kind, this.index, b, s));
    try {
      const p = this.config.routing.threshold ?? 0.5;
      const chosen = Uint8Array.from(decision.probability, (q) => (q > p ? 1 : 0)); // [B * S]
      observe?.({ layer: this.index, input: x, start, topk: null, causal: { selected: chosen, probability: decision.probability, scores: decision.hostScores } });
      const out = this.apply(x, decision.scores, fromDecisions(chosen, b, s), start, undefined, {}, "topk", trace);
      if (trace) {
        out.trace = {
          layer: this.index,
          mode: "topk",
          processed: rowsOf(chosen, b).map((r) => r.flatMap((v, i) => (v ? [start + i] : []))),
          scores: rowsOf(decision.hostScores, b),
          probability: rowsOf(decision.probability, b),
        };
      }
      return out;
    } finally {
      decision.scores.dispose();
    }
  }

  /**
   * x + gate * f(x~) on the selected tokens, gate = r (routed) or 1 (dense), 0 at padding.
   * `scores`: [B, S] or null (dense). Caller keeps ownership of `scores`.
   */
  private apply(
    x: tf.Tensor3D,
    scores: tf.Tensor2D | null,
    sel: Selection,
    start: number,
    cache: { past: KeyValues | null } | undefined,
    auxLosses: Record<string, tf.Scalar>,
    mode: RoutingMode,
    trace: boolean,
  ): ModBlockOutput {
    const [b] = x.shape;
    const past = cache?.past ?? null;
    const noExperts = (): ExpertTrace | undefined =>
      this.block.experts && trace ? { layer: this.index, mode, processed: Array.from({ length: this.block.experts.count }, () => Array.from({ length: b }, () => [])) } : undefined;
    // No token chosen anywhere: nothing to compute and nothing to cache.
    if (sel.n === 0) return withExperts({ x: tf.clone(x), tokens: 0, auxLosses, ...(cache ? { kv: past } : {}) }, noExperts());
    const positions = sel.index.map((i) => start + i); // original positions, [B * n]
    const expertTrace = (r: BranchResult): ExpertTrace | undefined =>
      r.experts && trace ? { layer: this.index, mode, processed: r.experts.processed.map((rows) => rows.map((row, rb) => row.map((j) => positions[rb * sel.n + j] as number))) } : undefined;
    const experts = mode === "causal" ? "causal" : "topk";
    if (sel.all) {
      const r = this.block.branch(x, positions, { past, experts });
      const y = tf.tidy(() => tf.add(x, scores ? tf.mul(r.out, tf.expandDims(scores, 2)) : r.out) as tf.Tensor3D);
      r.out.dispose();
      if (!cache) tf.dispose([r.kv.k, r.kv.v]);
      return withExperts({ x: y, tokens: sel.n, auxLosses: { ...auxLosses, ...r.auxLosses }, ...(cache ? { kv: r.kv } : {}) }, expertTrace(r));
    }
    const idx = tf.tensor2d(sel.index, [b, sel.n], "int32");
    const xs = gatherTokens(x, idx); // [B, n, d], chosen tokens in position order
    let r: BranchResult;
    try {
      r = this.block.branch(xs, positions, { valid: sel.valid, past, experts });
    } finally {
      xs.dispose();
    }
    const y = tf.tidy(() => {
      let gate = gatherTokens(tf.expandDims(scores as tf.Tensor2D, 2) as tf.Tensor3D, idx); // [B, n, 1]
      if (sel.valid) gate = tf.mul(gate, tf.tensor3d(Float32Array.from(sel.valid), [b, sel.n, 1])) as tf.Tensor3D;
      return scatterAddTokens(x, tf.mul(r.out, gate) as tf.Tensor3D, idx);
    });
    tf.dispose([idx, r.out]);
    if (!cache) tf.dispose([r.kv.k, r.kv.v]);
    return withExperts({ x: y, tokens: sel.n, auxLosses: { ...auxLosses, ...r.auxLosses }, ...(cache ? { kv: r.kv } : {}) }, expertTrace(r));
  }

  dispose(): void {
    this.block.dispose();
    this.router?.dispose();
  }
}
