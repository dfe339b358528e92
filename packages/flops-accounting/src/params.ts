// Parameter counts, matching the weight layout of @mixdepth/transformer exactly
// (see its README for names and shapes). Needed by the 6N approximation.
import { expertsAt, type ModelConfig, type ResolvedModelConfig } from "@mixdepth/core";
import { asResolved, trainingFlops, type FlopsOptions } from "./flops.js";
import { routerCostAt, type RouterCostOption } from "./router-cost.js";

export interface ParamCounts {
  tokenEmbedding: number;
  positionEmbedding: number;
  /** Per block: attention, MLP (an MoE MLP: its router and every expert), norms, router + predictor. */
  blocks: { index: number; attention: number; mlp: number; norms: number; routing: number; total: number }[];
  finalNorm: number;
  /** 0 when tied to the token embedding. */
  head: number;
  embedding: number;
  nonEmbedding: number;
  total: number;
}

/** Parameter counts; routers count what their kind declares (`routerCost`, required when the config has routed blocks). */
export function paramCounts(config: ModelConfig | ResolvedModelConfig, options: { routerCost?: RouterCostOption } = {}): ParamCounts {
  const c = asResolved(config);
  const d = c.dModel;
  const h = c.mlpHidden;
  const gpt2 = c.family === "gpt2";
  const norm = gpt2 ? 2 * d : d; // LayerNorm gain + bias, RMSNorm gain
  const attention = gpt2 ? d * 3 * d + 3 * d + d * d + d : 4 * d * d;
  const familyMlp = (hidden: number) => (gpt2 ? d * hidden + hidden + hidden * d + d : 3 * d * hidden);
  const blocks = c.layers.map((l) => {
    const r = l.routed ? routerCostAt(c, l.index, options.routerCost).params : 0;
    const e = expertsAt(c, l.index);
    const p = e?.predictor?.hidden ?? 0; // the experts' causal predictor: w1 [d, p] + b1 [p] + w2 [p, E] + b2 [E]
    const mlp = e ? d * (e.count + e.noop) + (p ? d * p + p + p * e.count + e.count : 0) + e.count * familyMlp(e.hidden) : familyMlp(h);
    return { index: l.index, attention, mlp, norms: 2 * norm, routing: r, total: attention + mlp + 2 * norm + r };
  });
  const tokenEmbedding = c.vocabSize * d;
  const positionEmbedding = gpt2 ? c.contextLength * d : 0;
  const head = c.tieEmbeddings ? 0 : d * c.vocabSize;
  const embedding = tokenEmbedding + positionEmbedding;
  const nonEmbedding = blocks.reduce((a, b) => a + b.total, 0) + norm + head;
  return { tokenEmbedding, positionEmbedding, blocks, finalNorm: norm, head, embedding, nonEmbedding, total: embedding + nonEmbedding };
}

export interface Approximation {
  /** N: non-embedding parameters ({@link ParamCounts.nonEmbedding}). */
  nonEmbeddingParams: number;
  /** 6 * N FLOPs per training token (the usual rule; Kaplan et al. 2020 without the attention term). */
  sixN: number;
  /** Kaplan et al. 2020: 6 * N + 6 * nLayers * S * d per training token (3x their forward 2N + 2 n_layer n_ctx d_attn). */
  kaplan: number;
  /** Exact training FLOPs per token from {@link trainingFlops}. */
  exact: number;
  /** sixN - exact. */
  difference: number;
  /** (sixN - exact) / exact. */
  relativeDifference: number;
  /** (kaplan - exact) / exact. */
  kaplanRelativeDifference: number;
}

/**
 * The 6N rule (and Kaplan's 6N + attention term) beside the exact count, per training token;
 * multiply by the tokens seen for a run's total. For MoD the rules overstate the cost: routed
 * blocks see only k of S tokens, which a count of parameters cannot express.
 */
export function sixNApproximation(config: ModelConfig | ResolvedModelConfig, options: FlopsOptions = {}): Approximation {
  const c = asResolved(config);
  const n = paramCounts(c, options.routerCost ? { routerCost: options.routerCost } : {}).nonEmbedding;
  const t = trainingFlops(c, options);
  const seqLen = options.seqLen ?? c.contextLength; // validated by trainingFlops
  const sixN = 6 * n;
  const kaplan = sixN + 6 * c.nLayers * seqLen * c.dModel;
  const exact = t.perToken;
  return {
    nonEmbeddingParams: n,
    sixN,
    kaplan,
    exact,
    difference: sixN - exact,
    relativeDifference: (sixN - exact) / exact,
    kaplanRelativeDifference: (kaplan - exact) / exact,
  };
}
