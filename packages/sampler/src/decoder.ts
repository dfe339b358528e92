// Cached causal decoding of one sequence through a @mixdepth/transformer model (mod-spec
// sections 3 and 4). The prompt is prefilled in one pass, then one token per step; both go
// through the same code:
//   embed the new tokens (gpt2: + position embedding of their absolute positions)
//   dense block:   x <- x + f(x)          attending over the cache; K/V of every new token cached
//   routed block:  the router's CAUSAL decision (threshold or predictor, never top-k) picks
//                  the new tokens this block processes; only those are gathered, attend over
//                  the block's cache (routed tokens only), get x <- x + r * f(x~), and write K/V.
//                  A skipped token costs the router (and predictor) only: no attention, no
//                  MLP, no cache entry. When no new token is routed the block does nothing else.
//   final norm, output head
// This computes exactly what model.forward(tokens, { routing: "causal" }) computes, token by
// token (tested to 1e-4).
import * as tf from "@tensorflow/tfjs-core";
import { gatherRows, layerNorm, rmsNorm } from "@mixdepth/mod-block";
import type { CausalRouting } from "@mixdepth/core";
import type { Transformer } from "@mixdepth/transformer";
import { KVCache } from "./kv-cache.js";

/** The causal decision of one routed block for the tokens of one decoder call. */
export interface TokenRouting {
  /** Block index in the model. */
  layer: number;
  /** Per new token: whether the block processed it (and cached its K/V). */
  processed: boolean[];
  /** Router score r per new token (multiplies the branch when processed). */
  scores: number[];
  /** Probability behind each decision (sigmoid of the score or of the predictor logit). */
  probability: number[];
}

export interface DecodeOutput {
  /**
   * Next-token logits, [T, V] for the T new tokens with `allLogits`, else [1, V] for the
   * last one. Caller owns (dispose it).
   */
  logits: tf.Tensor2D;
  /** One entry per routed block, in layer order. */
  routing: TokenRouting[];
  /** Absolute position of the first new token. */
  start: number;
}

export interface DecoderOptions {
  /** Causal decision rule of the routed blocks. Default: the model's config.routing.causal. */
  causal?: CausalRouting;
}

/** Raised when a sequence would outgrow the model's context. */
export class ContextLengthError extends RangeError {
  constructor(
    readonly needed: number,
    readonly contextLength: number,
    hint: string,
  ) {
    super(`sequence of ${needed} tokens exceeds the model's contextLength ${contextLength}${hint ? `: ${hint}` : ""}`);
    this.name = "ContextLengthError";
  }
}

/**
 * Incremental decoder for ONE sequence with its own {@link KVCache}. Holds references to the
 * model's live weights (not copies), so it sees later `setWeights` calls; the cache does
 * not, so reset() after changing weights. Call dispose() (frees the cache only).
 */
export class CachedDecoder {
  readonly cache: KVCache;
  readonly causal: CausalRouting;
  private pos = 0;
  private disposed = false;
  private readonly tokEmb: tf.Tensor2D;
  private readonly posEmb: tf.Tensor2D | null;
  private readonly normG: tf.Tensor1D;
  private readonly normB: tf.Tensor1D | null;
  private readonly headW: tf.Tensor2D | null;

  constructor(
    readonly model: Transformer,
    options: DecoderOptions = {},
  ) {
    const c = model.config;
    this.causal = options.causal ?? c.routing.causal;
    if (this.causal !== "threshold" && this.causal !== "predictor") {
      throw new RangeError(`causal: must be "threshold" or "predictor" (got ${JSON.stringify(this.causal)})`);
    }
    if (this.causal === "predictor" && !c.routing.predictor && c.routing.blocks.length > 0) {
      throw new RangeError('causal: "predictor" needs routing.predictor, which is disabled for this model');
    }
    const w = model.getWeights();
    const get = (name: string): tf.Tensor => {
      const v = w.get(name);
      if (!v) throw new Error(`CachedDecoder: the model has no weight "${name}"`);
      return v;
    };
    this.tokEmb = get("tok_emb") as tf.Tensor2D;
    this.posEmb = c.family === "gpt2" ? (get("pos_emb") as tf.Tensor2D) : null;
    this.normG = get("final_norm.g") as tf.Tensor1D;
    this.normB = c.family === "gpt2" ? (get("final_norm.b") as tf.Tensor1D) : null;
    this.headW = c.tieEmbeddings ? null : (get("head.w") as tf.Tensor2D);
    this.cache = new KVCache(c.nLayers);
  }

  /** Tokens consumed so far (the absolute position of the next token). */
  get position(): number {
    return this.pos;
  }

  /** Room left before contextLength. */
  get remaining(): number {
    return this.model.config.contextLength - this.pos;
  }

  /** Processes the whole prompt in one pass. The cache must be empty (fresh or reset()). */
  prefill(tokens: readonly number[], options: { allLogits?: boolean } = {}): DecodeOutput {
    if (this.pos !== 0) throw new Error(`CachedDecoder.prefill: the cache already holds ${this.pos} tokens; call reset() first`);
    if (tokens.length === 0) throw new RangeError("CachedDecoder.prefill: the prompt is empty (give at least one token)");
    return this.run(tokens, options.allLogits ?? false);
  }

  /** Processes one token at the next position. */
  step(token: number): DecodeOutput {
    return this.run([token], false);
  }

  /** Processes any number of tokens at the next positions (prefill and step in one). */
  feed(tokens: readonly number[], options: { allLogits?: boolean } = {}): DecodeOutput {
    if (tokens.length === 0) throw new RangeError("CachedDecoder.feed: no tokens");
    return this.run(tokens, options.allLogits ?? false);
  }

  /** Empties the cache; the next call starts at position 0. */
  reset(): void {
    this.cache.clear();
    this.pos = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cache.dispose();
  }

  private checkTokens(tokens: readonly number[]): void {
    const c = this.model.config;
    tokens.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) {
        throw new RangeError(`token ${i} is ${JSON.stringify(t)}; token ids must be integers in [0, ${c.vocabSize - 1}]`);
      }
    });
    const needed = this.pos + tokens.length;
    if (needed > c.contextLength) {
      throw new ContextLengthError(
        needed,
        c.contextLength,
        this.pos === 0 ? "shorten the prompt" : `the cache holds ${this.pos} tokens; lower maxNewTokens or generate with contextOverflow: "slide"`,
      );
    }
  }

  private run(tokens: readonly number[], allLogits: boolean): DecodeOutput {
    if (this.disposed) throw new Error("CachedDecoder: used after dispose()");
    this.checkTokens(tokens);
    const c = this.model.config;
    const t = tokens.length;
    const d = c.dModel;
    const start = this.pos;
    const routing: TokenRouting[] = [];
    const logits = tf.tidy(() => {
      const ids = tf.tensor1d(Array.from(tokens), "int32");
      let x = tf.gather(this.tokEmb, ids, 0) as tf.Tensor2D; // [T, d]
      if (this.posEmb) x = tf.add(x, tf.slice(this.posEmb, [start, 0], [t, d]));
      let h = tf.reshape(x, [1, t, d]) as tf.Tensor3D; // [1, T, d]
      const positions = tf.tensor2d(Array.from({ length: t }, (_, i) => start + i), [1, t], "int32"); // [1, T]
      // Cache writes are staged and applied only after every block ran, so an error
      // part-way leaves the cache as it was.
      const writes: { layer: number; k: tf.Tensor4D; v: tf.Tensor4D; positions: tf.Tensor2D }[] = [];
      this.model.blocks.forEach((block, layer) => {
        const past = this.cache.get(layer);
        const opts = past ? { past } : {};
        if (!block.router) {
          const r = block.block.branch(h, positions, opts);
          h = tf.add(h, r.out) as tf.Tensor3D;
          writes.push({ layer, k: r.k, v: r.v, positions });
          return;
        }
        const decision = block.router.routeCausal(h, this.causal);
        const selected = decision.selected.dataSync();
        const scoreValues = Array.from(decision.scores.dataSync());
        routing.push({
          layer,
          processed: Array.from(selected, (s) => s !== 0),
          scores: scoreValues,
          probability: Array.from(decision.probability.dataSync()),
        });
        const chosen: number[] = [];
        selected.forEach((s, i) => {
          if (s) chosen.push(i);
        });
        if (chosen.length === 0) return; // skipped by every new token: no work, no K/V
        if (chosen.length === t) {
          const r = block.block.branch(h, positions, opts);
          h = tf.add(h, tf.mul(r.out, tf.expandDims(decision.scores, 2))) as tf.Tensor3D;
          writes.push({ layer, k: r.k, v: r.v, positions });
          return;
        }
        // Some tokens routed: run the block on those only, in position order.
        const idx = tf.tensor2d(chosen, [1, chosen.length], "int32"); // [1, n]
        const xs = gatherRows(h, idx); // [1, n, d]
        const ps = gatherRows(positions, idx); // [1, n], original positions
        const rs = gatherRows(decision.scores, idx); // [1, n]
        const r = block.block.branch(xs, ps, opts);
        const update = tf.reshape(tf.mul(r.out, tf.expandDims(rs, 2)), [chosen.length, d]);
        const scattered = tf.scatterND(tf.reshape(idx, [chosen.length, 1]), update, [t, d]);
        h = tf.add(h, tf.reshape(scattered, [1, t, d])) as tf.Tensor3D;
        writes.push({ layer, k: r.k, v: r.v, positions: ps });
      });
      for (const w of writes) this.cache.append(w.layer, { k: w.k, v: w.v, positions: w.positions });
      const last = allLogits || t === 1 ? h : tf.slice(h, [0, t - 1, 0], [1, 1, d]);
      const rows = last.shape[1];
      const normed = this.normB ? layerNorm(last, this.normG, this.normB, c.normEps) : rmsNorm(last, this.normG, c.normEps);
      const flat = tf.reshape(normed, [rows, d]) as tf.Tensor2D;
      if (this.headW) return tf.matMul(flat, this.headW) as tf.Tensor2D; // [rows, V]
      // Tied head. On wasm, @mixdepth/backend's matmul fix decides per call whether to
      // pre-transpose the [V, d] table (many rows) or keep transposeB (a decode step's row).
      return tf.matMul(flat, this.tokEmb, false, true) as tf.Tensor2D; // [rows, V]
    });
    this.pos += t;
    return { logits, routing, start };
  }
}
