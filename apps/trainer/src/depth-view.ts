// What the report observes of a model's forward pass beyond the loss. Per-token depth (the
// paper's figure of routing decisions): how many of the model's blocks processed each token
// of a validation passage, read from the model's own forward pass through the transformer's
// routingTable (the one place that turns traces into per-token depth). Per block with an MoE
// MLP (method section 6): how many tokens each real expert processed and how many no expert
// took (the no-op path), from the same table. And the auxiliary losses by name, which the
// training objective only reports summed.
import * as tf from "@tensorflow/tfjs";
import { routingTable, type BlockVisit, type ForwardOptions, type TokenVisits, type Transformer } from "@mixdepth/transformer";
import type { Batch } from "@mixdepth/train";
import type { Tokenizer } from "@mixdepth/text";

export type DepthMode = NonNullable<ForwardOptions["routing"]>;

export interface DepthView {
  /** Training step of the weights. */
  step: number;
  nLayers: number;
  /** Indices of the routed (MoD) blocks; the others process every token. */
  routedBlocks: number[];
  /** The passage, one string per token (decoded alone). */
  tokens: string[];
  /** Blocks that processed each token, per routing mode ("topk": training-time expert choice; "causal": the sampling-time rule). */
  modes: { mode: DepthMode; depth: number[]; experts?: ExpertLoad[] }[];
}

/** One MoE block's load on the passage: tokens per real expert, and tokens whose MLP no expert ran. */
export interface ExpertLoad {
  layer: number;
  /** Tokens each real expert processed. */
  load: number[];
  /** Tokens that entered the block (all, unless MoD routed it) that no real expert took. */
  skipped: number;
  /** Tokens that entered the block. */
  tokens: number;
}

/** Blocks (of nLayers) that processed each token of `ids` in one forward pass. Frees what it allocates. */
export function tokenDepths(model: Transformer, ids: ArrayLike<number>, mode: DepthMode): { depth: number[]; routedBlocks: number[]; experts: ExpertLoad[] } {
  const n = ids.length;
  const x = tf.tensor2d(Array.from(ids), [1, n], "int32");
  try {
    const out = model.forward(x, { routing: mode, trace: true });
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    const [row] = routingTable(model, out.traces, { length: n }, out.expertTraces) as [TokenVisits[]];
    const depth = row.map((t) => t.depth);
    const experts = (model.config.experts?.blocks ?? []).map((layer): ExpertLoad => {
      const entered = row.map((t) => t.blocks[layer] as BlockVisit).filter((v) => v.processed);
      const count = model.config.experts?.count ?? 0;
      return {
        layer,
        load: Array.from({ length: count }, (_, e) => entered.filter((v) => v.experts?.includes(e)).length),
        skipped: entered.filter((v) => !v.experts?.length).length,
        tokens: entered.length,
      };
    });
    return { depth, routedBlocks: out.traces.map((t) => t.layer), experts };
  } finally {
    x.dispose();
  }
}

/** The depth view of the first context-length tokens of `passage` under top-k and (for MoD models) causal routing. */
export function depthView(model: Transformer, passage: Int32Array, tokenizer: Tokenizer, step: number): DepthView {
  const ids = passage.subarray(0, Math.min(passage.length, model.config.contextLength));
  const topk = tokenDepths(model, ids, "topk");
  const modes: DepthView["modes"] = [{ mode: "topk", depth: topk.depth, ...(topk.experts.length ? { experts: topk.experts } : {}) }];
  if (topk.routedBlocks.length || topk.experts.length) {
    const causal = tokenDepths(model, ids, "causal");
    modes.push({ mode: "causal", depth: causal.depth, ...(causal.experts.length ? { experts: causal.experts } : {}) });
  }
  return { step, nLayers: model.config.nLayers, routedBlocks: topk.routedBlocks, tokens: Array.from(ids, (id) => tokenizer.decode([id])), modes };
}

/**
 * The weighted auxiliary losses by name ("aux_bce", "predictor_bce"; summed over routed
 * blocks, as trained) on one batch under top-k routing: one forward pass and one readback,
 * for evaluation time only. Empty for dense models. Frees what it allocates.
 */
export function auxLossesByName(model: Transformer, batch: Batch, batchSize: number, seqLen: number): Record<string, number> {
  const x = tf.tensor2d(batch.inputs, [batchSize, seqLen], "int32");
  try {
    const out = model.forward(x, { routing: "topk", trace: false });
    const names = Object.keys(out.auxLosses);
    const values = names.length ? tf.tidy(() => tf.stack(Object.values(out.auxLosses)).dataSync()) : new Float32Array();
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    return Object.fromEntries(names.map((n, i) => [n, values[i] as number]));
  } finally {
    x.dispose();
  }
}
