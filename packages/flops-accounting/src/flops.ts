// FLOPs of dense and Mixture-of-Depths transformers (docs/method.md sections 5 and 7).
//
// Conventions, stated once and used everywhere:
// - A multiply-add is 2 FLOPs. Only matrix-multiply FLOPs are counted: the projections,
//   attention scores and weighted sum, MLP, router, predictor and output head. Norms,
//   softmax, activations, residual adds, top-k, gather/scatter and the embedding lookup are
//   O(S*d) or free and not counted. This makes the count equal, exactly, to the sum over the
//   matMul kernels the model executes (tested in @mixdepth/transformer).
// - Attention counts the full T x T score matrix by default ("full"), because the model
//   computes the whole masked matrix. "causal-half" counts T(T+1)/2 entries instead.
// - A routed block processes k = routedTokens(capacity, S) tokens: projections and MLP scale
//   with k, attention with k^2; its router (and predictor) run on all S tokens.
// - A router costs what its kind declares (RouterCost, passed as the `routerCost` option;
//   @mixdepth/router's routerCost(config) gives the registered declaration). It is required
//   for a config with routed blocks: there is no default here to fall back on silently. The
//   learned router declares x @ w [d,1] plus the predictor if enabled; the stochastic control
//   declares 0: it has no weights.
// - A mixture-of-experts MLP (config.experts; docs/method.md section 6) on the block's t tokens
//   costs its router h @ W_r [d, E + N] on all t tokens plus, per real expert, its MLP on the
//   k_e = routedTokens(experts.capacity, t) tokens it takes (token choice: its k_e slots,
//   padded when fewer tokens picked it; no-op experts cost nothing); both
//   are counted in `mlp`, with the experts' causal predictor (on all t tokens in training; at
//   sampling time only when it is the causal rule). At sampling time a real expert runs on a token with probability
//   experts.capacity.
// - Under routing.capacityWarmup (Mixture-of-Recursions) the capacity of training step t is
//   capacityAt(routing, t): the `step` option counts that step; without it, the target. With
//   threshold training (routing.train "threshold", MoDification) the tokens a block processes are
//   data-dependent: the count at the capacity is a plan, and the `blockTokens` option (what
//   Transformer.forward reports) gives the measured FLOPs of a pass.
// - Backward is 2x forward, so a training step costs 3x the forward pass.
import { ConfigError, capacityAt, expertsAt, resolveModelConfig, routedTokens, type CausalRouting, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { routerCostAt, type RouterCostOption } from "./router-cost.js";

export type AttentionCounting = "full" | "causal-half";

export interface FlopsOptions {
  /** Sequence length S of the forward pass. Default: the config's contextLength. */
  seqLen?: number;
  /** How attention score/value FLOPs are counted. Default "full". */
  attention?: AttentionCounting;
  /** What each router costs, as its kind declares (routerCost(config) of @mixdepth/router). Required when the config has routed blocks. */
  routerCost?: RouterCostOption;
  /** The training step (0-based) counted: sets the capacity under routing.capacityWarmup. Default: the target capacity. */
  step?: number;
  /**
   * Measured: per block, the tokens per sequence its branch ran on (Transformer.forward's
   * `blockTokens`), replacing the planned S or k. Routers still run on all S tokens.
   */
  blockTokens?: readonly number[];
}

export interface BlockFlops {
  index: number;
  routed: boolean;
  /** Tokens the block's attention and MLP process: S (dense) or k (routed). */
  tokens: number;
  qkv: number;
  attentionScores: number;
  attentionValues: number;
  attentionOutput: number;
  mlp: number;
  router: number;
  predictor: number;
  total: number;
}

export interface ForwardFlops {
  seqLen: number;
  attention: AttentionCounting;
  /** Embedding lookups are free. */
  embedding: 0;
  blocks: BlockFlops[];
  head: number;
  /** Sum of blocks and head, per sequence. */
  total: number;
  perToken: number;
}

/** Accepts a raw or resolved config. */
export function asResolved(config: ModelConfig | ResolvedModelConfig): ResolvedModelConfig {
  return "layers" in config && "mlpKind" in config ? (config as ResolvedModelConfig) : resolveModelConfig(config as ModelConfig);
}

function checkSeqLen(c: ResolvedModelConfig, seqLen: unknown): number {
  if (typeof seqLen !== "number" || !Number.isInteger(seqLen) || seqLen <= 0 || seqLen > c.contextLength) {
    throw new ConfigError("seqLen", seqLen, `must be an integer in [1, ${c.contextLength}] (contextLength)`);
  }
  return seqLen;
}

function attentionPairs(t: number, counting: AttentionCounting): number {
  return counting === "full" ? t * t : (t * (t + 1)) / 2;
}

/**
 * Matmul FLOPs of block `index`'s residual branch (attention + MLP) on `t` query tokens with
 * `pairs` query-key pairs. `expertTokens(t)`: tokens each real expert of an MoE MLP processes.
 */
function branchFlops(c: ResolvedModelConfig, index: number, t: number, pairs: number, expertTokens: (t: number, capacity: number) => number, sampling = false) {
  const d = c.dModel;
  const qkv = 2 * t * d * 3 * d;
  const attentionScores = 2 * pairs * d; // all heads: H * pairs * headDim
  const attentionValues = 2 * pairs * d;
  const attentionOutput = 2 * t * d * d;
  const matrices = c.mlpKind === "swiglu" ? 3 : 2;
  const e = expertsAt(c, index);
  // The experts' causal predictor runs for its loss in training, at sampling time only as the rule.
  const p = e?.predictor && (!sampling || e.causal === "predictor") ? e.predictor.hidden : 0;
  const mlp = e
    ? 2 * t * d * (e.count + e.noop) + 2 * t * (d * p + p * e.count) + e.count * 2 * expertTokens(t, e.capacity) * d * e.hidden * matrices
    : 2 * t * d * c.mlpHidden * matrices;
  return { qkv, attentionScores, attentionValues, attentionOutput, mlp };
}

/** Router and predictor FLOPs on `s` tokens for routed block `index`, from its declared cost. */
function routingFlops(c: ResolvedModelConfig, index: number, s: number, cost: RouterCostOption | undefined, withPredictor = true) {
  const r = routerCostAt(c, index, cost);
  return { router: s * r.flopsPerToken, predictor: withPredictor ? s * r.predictorFlopsPerToken : 0 };
}

/** Forward-pass FLOPs of one sequence, per block and in total. */
export function forwardFlops(config: ModelConfig | ResolvedModelConfig, options: FlopsOptions = {}): ForwardFlops {
  const c = asResolved(config);
  const S = checkSeqLen(c, options.seqLen ?? c.contextLength);
  const counting = options.attention ?? "full";
  if (counting !== "full" && counting !== "causal-half") throw new ConfigError("attention", counting, 'must be "full" or "causal-half"');
  const step = options.step;
  if (step !== undefined && (!Number.isInteger(step) || step < 0)) throw new ConfigError("step", step, "must be an integer >= 0");
  const measured = options.blockTokens;
  if (measured !== undefined) {
    if (!Array.isArray(measured) || measured.length !== c.nLayers) throw new ConfigError("blockTokens", measured, `must list ${c.nLayers} token counts (one per block)`);
    measured.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t > S) throw new ConfigError(`blockTokens[${i}]`, t, `must be an integer in [0, ${S}] (seqLen)`);
    });
  }
  const capacity = capacityAt(c.routing, step);
  const blocks = c.layers.map((layer): BlockFlops => {
    const t = measured ? (measured[layer.index] as number) : layer.routed ? routedTokens(capacity, S) : S;
    const b = branchFlops(c, layer.index, t, attentionPairs(t, counting), (n, capacity) => routedTokens(capacity, n));
    const r = layer.routed ? routingFlops(c, layer.index, S, options.routerCost) : { router: 0, predictor: 0 };
    const total = b.qkv + b.attentionScores + b.attentionValues + b.attentionOutput + b.mlp + r.router + r.predictor;
    return { index: layer.index, routed: layer.routed, tokens: t, ...b, ...r, total };
  });
  const head = 2 * S * c.dModel * c.vocabSize;
  const total = blocks.reduce((acc, b) => acc + b.total, 0) + head;
  return { seqLen: S, attention: counting, embedding: 0, blocks, head, total, perToken: total / S };
}

/** Backward pass costs this many forward passes (gradients w.r.t. activations and weights). */
export const BACKWARD_FACTOR = 2;

export interface TrainingFlops {
  forward: number;
  backward: number;
  /** forward + backward, per sequence. */
  total: number;
  perToken: number;
  backwardFactor: number;
}

/** Training FLOPs of one sequence (forward + backward = 3x forward). */
export function trainingFlops(config: ModelConfig | ResolvedModelConfig, options: FlopsOptions = {}): TrainingFlops {
  const f = forwardFlops(config, options);
  const backward = BACKWARD_FACTOR * f.total;
  return { forward: f.total, backward, total: f.total + backward, perToken: (f.total + backward) / f.seqLen, backwardFactor: BACKWARD_FACTOR };
}

/** The same architecture with routing switched off: the dense baseline of an MoD config. */
export function denseCounterpart(config: ModelConfig | ResolvedModelConfig): ResolvedModelConfig {
  const c = asResolved(config);
  return {
    ...c,
    routing: { ...c.routing, blocks: [] },
    layers: c.layers.map((l) => ({ index: l.index, routed: false, capacity: 1 })),
  };
}

export interface ModVsDense {
  mod: number;
  dense: number;
  /** mod / dense forward FLOPs per sequence. */
  ratio: number;
}

/** Forward FLOPs of an MoD config against its dense counterpart of the same shape. */
export function modVsDense(config: ModelConfig | ResolvedModelConfig, options: FlopsOptions = {}): ModVsDense {
  const mod = forwardFlops(config, options).total;
  const dense = forwardFlops(denseCounterpart(config), options).total;
  return { mod, dense, ratio: mod / dense };
}

export interface SamplingOptions {
  /** Number of tokens already in context (cached) before this one: t. */
  position: number;
  /** Expected fraction of tokens a routed block processes at sampling time: p. Default: the capacity. */
  routedFraction?: number;
  /**
   * The causal decision used while sampling. Default: the config's routing.causal. The
   * predictor MLP runs on the token only for "predictor"; the router score is always needed.
   */
  causal?: CausalRouting;
  /** What each router costs, as its kind declares (see {@link FlopsOptions.routerCost}). */
  routerCost?: RouterCostOption;
}

export interface SamplingFlops {
  position: number;
  routedFraction: number;
  causal: CausalRouting;
  /** Expected FLOPs to produce one token with a KV cache. */
  perToken: number;
  blocks: { index: number; routed: boolean; expected: number }[];
  head: number;
}

/** A decode step's token reaches each real expert with probability experts.capacity. */
const expectedExpertTokens = (t: number, capacity: number) => t * capacity;

/**
 * Expected FLOPs of one decode step with a KV cache at context position t = `position`.
 * A dense block processes the token and attends over its t cached keys plus its own (t+1).
 * A routed block runs its router (and, for causal "predictor", the predictor) on the token,
 * then, with probability p = routedFraction, processes it attending over the about p*t
 * routed tokens in its cache plus itself (p*t + 1 keys; docs/method.md section 4).
 */
export function samplingFlopsPerToken(config: ModelConfig | ResolvedModelConfig, options: SamplingOptions): SamplingFlops {
  const c = asResolved(config);
  const { position } = options;
  if (!Number.isInteger(position) || position < 0) {
    throw new ConfigError("position", position, "must be an integer >= 0");
  }
  const p = options.routedFraction ?? c.routing.capacity;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new ConfigError("routedFraction", p, "must be a number in [0, 1]");
  const causal = options.causal ?? c.routing.causal;
  if (causal !== "threshold" && causal !== "predictor") throw new ConfigError("causal", causal, 'must be "threshold" or "predictor"');
  if (causal === "predictor" && !c.routing.predictor && c.routing.blocks.length > 0) {
    throw new ConfigError("causal", causal, "needs routing.predictor (it is null)");
  }
  const blocks = c.layers.map((l) => {
    if (!l.routed) {
      const b = branchFlops(c, l.index, 1, position + 1, expectedExpertTokens, true);
      return { index: l.index, routed: false, expected: b.qkv + b.attentionScores + b.attentionValues + b.attentionOutput + b.mlp };
    }
    const r = routingFlops(c, l.index, 1, options.routerCost, causal === "predictor");
    const b = branchFlops(c, l.index, 1, p * position + 1, expectedExpertTokens, true);
    const branch = b.qkv + b.attentionScores + b.attentionValues + b.attentionOutput + b.mlp;
    return { index: l.index, routed: true, expected: r.router + r.predictor + p * branch };
  });
  const head = 2 * c.dModel * c.vocabSize;
  return { position, routedFraction: p, causal, perToken: blocks.reduce((a, b) => a + b.expected, 0) + head, blocks, head };
}

/**
 * FLOPs of a prompt prefill of `promptLength` tokens: a forward pass over them with top-k routing
 * at the configured capacity (a causal prefill routes a data-dependent number of tokens; this is its expectation when the realized fraction equals the capacity).
 */
export function prefillFlops(config: ModelConfig | ResolvedModelConfig, promptLength: number, options: Omit<FlopsOptions, "seqLen"> = {}): number {
  return forwardFlops(config, { ...options, seqLen: promptLength }).total;
}
