// The decoder-only MoD transformer (docs/method.md sections 2-3): token embedding, (gpt2) learned
// absolute positions, nLayers blocks (dense or routed, each routed block with its own
// router), final norm, output head tied to the token embedding by default.
// Formulas, weight names and shapes: ../README.md.
import * as tf from "@tensorflow/tfjs-core";
import { deriveSeed, mulberry32 } from "@mixdepth/core";
import { ModBlock, layerNorm, rmsNorm, type ExpertTrace, type KeyValues, type RoutingMode, type RoutingObservation, type RoutingTrace } from "@mixdepth/mod-block";
import { resolveModelConfig, type CausalRouting, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { embeddingLookup } from "./embedding.js";
import { crossEntropy } from "./loss.js";
import { KVCache } from "./kv-cache.js";
import { topLevelWeightShapes } from "./weight-shapes.js";

/** Init std of embeddings (and of every block matrix, see mod-block). */
export const EMBEDDING_INIT_STD = 0.02;

export interface TransformerOptions {
  /** Seed of every initial weight (and of router randomness). Default 0. */
  seed?: number;
}

export interface ForwardOptions {
  /** "topk" (training-time expert choice; default) or "causal" (sampling-time decision). */
  routing?: RoutingMode;
  /** Causal decision rule (routing "causal", and `observe`). Default: config.routing.causal. */
  causal?: CausalRouting;
  /**
   * Incremental decoding: the tokens continue the sequences held by this cache (from
   * `createCache()`), at positions cache.position, cache.position + 1, ...; they attend to
   * the cached keys, and each block appends the keys/values of the tokens it processed
   * (a routed block: only those its causal decision routed). Needs routing "causal" when the
   * model has routed blocks. The cache changes only when the whole call succeeds.
   */
  cache?: KVCache;
  /** "all" (default): logits of every token, [B, S, V]; "last": of the last token only, [B, 1, V]. */
  logits?: "all" | "last";
  /** Build routing traces (host arrays the routers already made: no extra readback). Default false. */
  trace?: boolean;
  /**
   * Called once per routed block, in layer order, with its input, the top-k choice (routing
   * "topk") and the causal decision on the same input: what evaluation needs (see
   * RoutingAgreementCounter). In top-k mode this costs one more readback per routed block.
   */
  observe?: (o: RoutingObservation) => void;
  /**
   * The training step (0-based) of this pass: under routing.capacityWarmup it sets each routed
   * block's top-k capacity (capacityAt of @mixdepth/core). Default none: the target capacity.
   */
  step?: number;
}

export interface ForwardResult {
  /** [B, S, V] next-token logits. Caller owns. */
  logits: tf.Tensor3D;
  /** Weighted auxiliary losses summed over blocks, by name ("aux_bce", "predictor_bce"). Caller owns. */
  auxLosses: Record<string, tf.Scalar>;
  /** With `trace`: one per routed block, in layer order (plain arrays, nothing to dispose); else empty. */
  traces: RoutingTrace[];
  /** With `trace`: one per block with an MoE MLP (which tokens each expert processed), in layer order; else empty. */
  expertTraces: ExpertTrace[];
  /**
   * Per block, in layer order: tokens per sequence its branch ran on (S dense, k top-k, the
   * most any row chose under causal or threshold routing). forwardFlops's `blockTokens` option
   * turns them into the pass's measured FLOPs.
   */
  blockTokens: number[];
}

export interface LossResult {
  /** lm + aux: what training minimises. */
  total: tf.Scalar;
  /** Next-token cross-entropy, nats, mean over all B*S tokens. */
  lm: tf.Scalar;
  /** Sum of the weighted auxiliary losses (0 for dense models or causal routing). */
  aux: tf.Scalar;
  /** Per block: tokens per sequence its branch ran on (see {@link ForwardResult.blockTokens}). */
  blockTokens: number[];
}

/** A MoD (or dense) decoder-only transformer. Owns its variables; call dispose(). */
export class Transformer {
  readonly config: ResolvedModelConfig;
  private readonly blocks: readonly ModBlock[];
  private readonly raw: ModelConfig;
  private readonly top = new Map<string, tf.Variable>();
  private disposed = false;

  constructor(config: ModelConfig, options: TransformerOptions = {}) {
    this.raw = JSON.parse(JSON.stringify(config)) as ModelConfig;
    this.config = resolveModelConfig(config);
    const c = this.config;
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new RangeError(`seed: must be an integer (got ${JSON.stringify(seed)})`);
    // One generator for the model-level weights, one stream for the blocks (in layer order).
    const topRand = mulberry32(deriveSeed(seed, "top-weights"));
    const blockRand = mulberry32(seed);
    const blocks: ModBlock[] = [];
    try {
      for (const [name, shape] of topLevelWeightShapes(c)) {
        // tidy frees the initial value; variables are not tracked by tidy.
        const v = tf.tidy(() =>
          tf.variable(
            name.endsWith(".g") ? tf.ones(shape) : name.endsWith(".b") ? tf.zeros(shape) : tf.tensor(gaussianArray(topRand, shape), shape, "float32"),
            true,
          ),
        );
        this.top.set(name, v);
      }
      // ModBlock registers the built-in routers and creates each routed block's own router.
      for (let i = 0; i < c.nLayers; i++) blocks.push(new ModBlock(c, i, blockRand, seed));
    } catch (err) {
      blocks.forEach((b) => b.dispose());
      this.top.forEach((v) => v.dispose());
      throw err;
    }
    this.blocks = blocks;
  }

  private w(name: string): tf.Variable {
    const v = this.top.get(name);
    if (!v) throw new Error(`no weight "${name}"`);
    return v;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error("Transformer: used after dispose()");
  }

  private checkTokens(tokens: tf.Tensor, what: string, start = 0): [number, number] {
    if (tokens.rank !== 2) throw new Error(`${what}: expected [B, S] int32, got shape [${tokens.shape.join(", ")}]`);
    const [b, s] = tokens.shape as [number, number];
    if (start + s > this.config.contextLength) {
      throw new RangeError(
        start
          ? `${what}: ${s} new tokens after the ${start} cached ones exceed contextLength ${this.config.contextLength}`
          : `${what}: sequence length ${s} exceeds contextLength ${this.config.contextLength}`,
      );
    }
    if (b < 1 || s < 1) throw new RangeError(`${what}: empty batch or sequence (shape [${b}, ${s}])`);
    return [b, s];
  }

  /** An empty KV cache for incremental decoding with {@link forward} (`cache` option). Call its dispose(). */
  createCache(): KVCache {
    this.checkAlive();
    return new KVCache(this.config.nLayers);
  }

  /**
   * tokens [B, S] int32 -> logits [B, S, V] (or [B, 1, V] with logits "last"), summed
   * auxiliary losses and, with `trace`, per-routed-block traces. In "topk" mode a routed block
   * processes k = routedTokens(capacity, S) tokens per sequence; in "causal" mode the tokens
   * its router's causal decision picks. With `cache`, the tokens continue the cached
   * sequences (see {@link ForwardOptions.cache}). Host readbacks: one per routed block (its
   * router's). Caller owns the returned tensors.
   */
  forward(tokens: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
    this.checkAlive();
    const c = this.config;
    const cache = options.cache ?? null;
    const routing = options.routing ?? "topk";
    if (cache) {
      if (routing !== "causal" && (c.routing.blocks.length > 0 || c.experts)) throw new Error('forward: a KV cache needs routing: "causal" (top-k routing looks at the whole sequence)');
      if (cache.nLayers !== c.nLayers) throw new Error(`forward: the cache has ${cache.nLayers} blocks, the model ${c.nLayers}; make it with model.createCache()`);
    }
    const start = cache ? cache.position : 0;
    const [b, s] = this.checkTokens(tokens, "tokens", start);
    if (cache && cache.batch !== null && cache.batch !== b) throw new Error(`forward: the cache holds ${cache.batch} sequences, tokens have ${b} rows`);
    const d = c.dModel;
    const traces: RoutingTrace[] = [];
    const expertTraces: ExpertTrace[] = [];
    const blockTokens: number[] = [];
    const entries: (KeyValues | null)[] = [];
    const kept: tf.Tensor[] = []; // new cache tensors, kept out of the tidy until committed
    let result: { logits: tf.Tensor3D; aux: Record<string, tf.Scalar> };
    try {
      result = tf.tidy(() => {
        const ids = tf.reshape(tf.cast(tokens, "int32"), [b * s]) as tf.Tensor1D;
        let x = tf.reshape(embeddingLookup(this.w("tok_emb") as unknown as tf.Tensor2D, ids), [b, s, d]) as tf.Tensor3D;
        if (c.family === "gpt2") x = tf.add(x, tf.slice(this.w("pos_emb"), [start, 0], [s, d])) as tf.Tensor3D;
        const aux: Record<string, tf.Scalar> = {};
        this.blocks.forEach((block, i) => {
          const past = cache ? cache.get(i) : null;
          const out = block.forward(x, {
            mode: routing,
            start,
            ...(options.causal ? { causal: options.causal } : {}),
            ...(cache ? { cache: { past } } : {}),
            ...(options.trace ? { trace: true } : {}),
            ...(options.observe ? { observe: options.observe } : {}),
            ...(options.step !== undefined ? { step: options.step } : {}),
          });
          x = out.x;
          blockTokens.push(out.tokens);
          if (out.trace) traces.push(out.trace);
          if (out.experts) expertTraces.push(out.experts);
          if (cache) {
            const kv = out.kv ?? null;
            if (kv && kv !== past) kept.push(tf.keep(kv.k), tf.keep(kv.v));
            entries.push(kv);
          }
          for (const [name, v] of Object.entries(out.auxLosses)) aux[name] = aux[name] ? tf.add(aux[name], v) : v;
        });
        const last = options.logits === "last" && s > 1 ? tf.slice(x, [0, s - 1, 0], [b, 1, d]) : x;
        const rows = last.shape[0] * last.shape[1];
        const h = tf.reshape(this.finalNorm(last), [rows, d]) as tf.Tensor2D;
        // Transposed operands and batched products are the backend's business: on wasm,
        // @mixdepth/backend's setupBackend() installs the kernel fix (see its README).
        const head = c.tieEmbeddings
          ? tf.matMul(h, this.w("tok_emb"), false, true)
          : tf.matMul(h, this.w("head.w"));
        return { logits: tf.reshape(head, [b, rows / b, c.vocabSize]) as tf.Tensor3D, aux };
      });
    } catch (err) {
      tf.dispose(kept);
      throw err;
    }
    cache?.commit(entries, b, s);
    return { logits: result.logits, auxLosses: result.aux, traces, expertTraces, blockTokens };
  }

  private finalNorm(x: tf.Tensor): tf.Tensor {
    const c = this.config;
    const g = this.w("final_norm.g") as unknown as tf.Tensor1D;
    return c.family === "gpt2" ? layerNorm(x, g, this.w("final_norm.b") as unknown as tf.Tensor1D, c.normEps) : rmsNorm(x, g, c.normEps);
  }

  /**
   * Training objective on inputs [B, S] and targets [B, S] (usually inputs shifted by one):
   * lm = mean next-token cross-entropy (nats), aux = sum of the routers' weighted auxiliary
   * losses, total = lm + aux. Works under tf.variableGrads on cpu and wasm. Caller owns results.
   */
  loss(inputs: tf.Tensor2D, targets: tf.Tensor2D, options: Omit<ForwardOptions, "cache" | "logits"> = {}): LossResult {
    const [b, s] = this.checkTokens(inputs, "inputs");
    if (targets.shape[0] !== b || targets.shape[1] !== s) {
      throw new Error(`targets: expected shape [${b}, ${s}] like inputs, got [${targets.shape.join(", ")}]`);
    }
    let blockTokens: number[] = [];
    const r = tf.tidy(() => {
      const out = this.forward(inputs, { ...options, trace: false });
      blockTokens = out.blockTokens;
      const lm = crossEntropy(out.logits, targets);
      const terms = Object.values(out.auxLosses);
      const aux = (terms.length ? tf.addN(terms) : tf.scalar(0)) as tf.Scalar;
      return { total: tf.add(lm, aux) as tf.Scalar, lm, aux };
    });
    return { ...r, blockTokens };
  }

  /**
   * Every weight by its full name ("tok_emb", "blocks.3.attn.qkv.w", "blocks.3.router.w", ...;
   * see the README for the full list). The values are the model's live variables: read them,
   * do not dispose them.
   */
  getWeights(): Map<string, tf.Variable> {
    this.checkAlive();
    const m = new Map<string, tf.Variable>();
    const top = [...this.top.entries()];
    for (const [name, v] of top.filter(([n]) => n === "tok_emb" || n === "pos_emb")) m.set(name, v);
    this.blocks.forEach((block, i) => {
      for (const [name, v] of block.weights()) m.set(`blocks.${i}.${name}`, v);
    });
    for (const [name, v] of top.filter(([n]) => n !== "tok_emb" && n !== "pos_emb")) m.set(name, v);
    return m;
  }

  /** Name -> shape of every weight, in {@link getWeights} order. */
  weightShapes(): Map<string, number[]> {
    return new Map([...this.getWeights()].map(([n, v]) => [n, [...v.shape]]));
  }

  /**
   * Assigns weights by name. Every name given must exist with the same shape; by default every
   * model weight must be given too (`partial: true` allows a subset). Throws before assigning
   * anything if a name or shape does not match. The map's tensors are copied, not kept.
   */
  setWeights(weights: Map<string, tf.Tensor> | Record<string, tf.Tensor>, options: { partial?: boolean } = {}): void {
    const own = this.getWeights();
    const given = weights instanceof Map ? weights : new Map(Object.entries(weights));
    for (const [name, t] of given) {
      const v = own.get(name);
      if (!v) {
        const known = [...own.keys()];
        throw new Error(`setWeights: unknown weight "${name}" (this model has ${known.length} weights: ${known.slice(0, 8).join(", ")}${known.length > 8 ? ", ..." : ""})`);
      }
      if (t.shape.length !== v.shape.length || t.shape.some((n, i) => n !== v.shape[i])) {
        throw new Error(`setWeights: weight "${name}" has shape [${t.shape.join(", ")}], the model expects [${v.shape.join(", ")}]`);
      }
      if (t.dtype !== "float32") throw new Error(`setWeights: weight "${name}" has dtype ${t.dtype}, expected float32`);
    }
    if (!options.partial) {
      const missing = [...own.keys()].filter((n) => !given.has(n));
      if (missing.length) throw new Error(`setWeights: missing weights ${missing.slice(0, 8).map((n) => `"${n}"`).join(", ")}${missing.length > 8 ? ", ..." : ""} (pass { partial: true } to set a subset)`);
    }
    for (const [name, t] of given) (own.get(name) as tf.Variable).assign(t);
  }

  /** Every trainable variable (what an optimizer updates), in {@link getWeights} order. */
  trainableVariables(): tf.Variable[] {
    return [...this.getWeights().values()].filter((v) => v.trainable);
  }

  /**
   * Routers' non-weight state (e.g. the stochastic router's random stream), by block name
   * ("blocks.3"), for routers that have one. JSON; checkpoints store it beside the weights.
   */
  getRouterStates(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.blocks.forEach((b, i) => {
      if (b.hasRouterState) out[`blocks.${i}`] = b.getRouterState();
    });
    return out;
  }

  /** Restores {@link getRouterStates}. Throws on a block without such a router, naming it. */
  setRouterStates(states: Record<string, unknown>): void {
    for (const [name, state] of Object.entries(states)) {
      const m = /^blocks\.(\d+)$/.exec(name);
      const block = m ? this.blocks[Number(m[1])] : undefined;
      if (!block?.hasRouterState) throw new Error(`setRouterStates: ${name} has no router with state (routers with state: ${Object.keys(this.getRouterStates()).join(", ") || "none"})`);
      block.setRouterState(state);
    }
  }

  /** The model config as given (JSON); resolveModelConfig(toJSON()) equals `config`. */
  toJSON(): ModelConfig {
    return JSON.parse(JSON.stringify(this.raw)) as ModelConfig;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.blocks.forEach((b) => b.dispose());
    this.top.forEach((v) => v.dispose());
    this.top.clear();
  }
}

function gaussianArray(rand: () => number, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * EMBEDDING_INIT_STD;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Builds a model with fresh seeded weights (normal(0, 0.02); see the README). */
export function createTransformer(config: ModelConfig, options: TransformerOptions = {}): Transformer {
  return new Transformer(config, options);
}

/** Builds a model and loads `weights` (every name and shape must match; see setWeights). */
export function fromWeights(config: ModelConfig, weights: Map<string, tf.Tensor> | Record<string, tf.Tensor>, options: TransformerOptions = {}): Transformer {
  const model = new Transformer(config, options);
  try {
    model.setWeights(weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
