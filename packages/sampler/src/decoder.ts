// Cached causal decoding of one sequence (docs/method.md sections 3 and 4): a loop helper around
// the model's own incremental forward pass, model.forward(ids, { routing: "causal", cache }).
// The prompt is prefilled in one call, then one token per call. The model owns the sparse
// per-block KV cache (a routed block caches only the tokens its causal decision routed) and
// the MoD semantics; this class tracks the sequence, checks its budget, and reports the
// model's routing per token (the transformer's routingTable) and per routed block.
import * as tf from "@tensorflow/tfjs-core";
import type { CausalRouting } from "@mixdepth/core";
import { routingTable, type BlockVisit, type KVCache, type TokenVisits, type Transformer } from "@mixdepth/transformer";

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
  /** One entry per routed block, in layer order (the columns of `tokens`, read per block). */
  routing: TokenRouting[];
  /** One entry per new token: its position, depth and how each block handled it (transformer's routingTable). */
  tokens: TokenVisits[];
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
 * Incremental decoder for ONE sequence with its own KV cache (`model.createCache()`). The
 * model's live weights are used at every call; the cache is not recomputed, so reset() after
 * changing weights. Call dispose() (frees the cache only).
 */
export class CachedDecoder {
  readonly cache: KVCache;
  readonly causal: CausalRouting;
  private disposed = false;

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
    this.cache = model.createCache();
  }

  /** Tokens consumed so far (the absolute position of the next token). */
  get position(): number {
    return this.cache.position;
  }

  /** Room left before contextLength. */
  get remaining(): number {
    return this.model.config.contextLength - this.position;
  }

  /** Processes the whole prompt in one pass. The cache must be empty (fresh or reset()). */
  prefill(tokens: readonly number[], options: { allLogits?: boolean } = {}): DecodeOutput {
    if (this.position !== 0) throw new Error(`CachedDecoder.prefill: the cache already holds ${this.position} tokens; call reset() first`);
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
    const pos = this.position;
    const needed = pos + tokens.length;
    if (needed > c.contextLength) {
      throw new ContextLengthError(
        needed,
        c.contextLength,
        pos === 0 ? "shorten the prompt" : `the cache holds ${pos} tokens; lower maxNewTokens or generate with contextOverflow: "slide"`,
      );
    }
  }

  private run(tokens: readonly number[], allLogits: boolean): DecodeOutput {
    if (this.disposed) throw new Error("CachedDecoder: used after dispose()");
    this.checkTokens(tokens);
    const c = this.model.config;
    const t = tokens.length;
    const start = this.position;
    const ids = tf.tensor2d(Array.from(tokens), [1, t], "int32");
    let out;
    try {
      out = this.model.forward(ids, { routing: "causal", causal: this.causal, cache: this.cache, logits: allLogits ? "all" : "last", trace: true });
    } finally {
      ids.dispose();
    }
    const rows = out.logits.shape[1];
    const logits = tf.reshape(out.logits, [rows, c.vocabSize]) as tf.Tensor2D; // [rows, V]
    out.logits.dispose();
    const columns = routingTable(this.model, out.traces, { length: t, start }, out.expertTraces)[0] as TokenVisits[];
    const routing = c.routing.blocks.map((layer): TokenRouting => {
      const visits = columns.map((col) => col.blocks[layer] as BlockVisit);
      return { layer, processed: visits.map((v) => v.processed), scores: visits.map((v) => v.score as number), probability: visits.map((v) => v.probability as number) };
    });
    return { logits, routing, tokens: columns, start };
  }
}
