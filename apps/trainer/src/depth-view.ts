// Per-token depth (the paper's figure of routing decisions): how many of the model's blocks
// processed each token of a validation passage. `tokenDepths` is the one place the report
// observes routing; it reads the per-routed-block traces of the model's own forward pass, so
// a change in how routing is observed is a change here only.
import * as tf from "@tensorflow/tfjs";
import type { ForwardOptions, Transformer } from "@mixdepth/transformer";
import type { Tokenizer } from "./tokenizer.js";

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
  modes: { mode: DepthMode; depth: number[] }[];
}

/** Blocks (of nLayers) that processed each token of `ids` in one forward pass. Frees what it allocates. */
export function tokenDepths(model: Transformer, ids: ArrayLike<number>, mode: DepthMode): { depth: number[]; routedBlocks: number[] } {
  const n = ids.length;
  const x = tf.tensor2d(Array.from(ids), [1, n], "int32");
  try {
    const out = model.forward(x, { routing: mode, trace: true });
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    const dense = model.config.nLayers - out.traces.length;
    const depth = new Array<number>(n).fill(dense);
    for (const t of out.traces) for (const i of t.processed[0] ?? []) depth[i] = (depth[i] as number) + 1;
    return { depth, routedBlocks: out.traces.map((t) => t.layer) };
  } finally {
    x.dispose();
  }
}

/** The depth view of the first context-length tokens of `passage` under top-k and (for MoD models) causal routing. */
export function depthView(model: Transformer, passage: Int32Array, tokenizer: Tokenizer, step: number): DepthView {
  const ids = passage.subarray(0, Math.min(passage.length, model.config.contextLength));
  const topk = tokenDepths(model, ids, "topk");
  const modes: DepthView["modes"] = [{ mode: "topk", depth: topk.depth }];
  if (topk.routedBlocks.length) modes.push({ mode: "causal", depth: tokenDepths(model, ids, "causal").depth });
  return { step, nLayers: model.config.nLayers, routedBlocks: topk.routedBlocks, tokens: Array.from(ids, (id) => tokenizer.decode([id])), modes };
}
