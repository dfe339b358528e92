// Teacher-forced routing of the prompt (docs/method.md sections 2-3): one forward pass with
// training-time top-k routing or with the causal sampling-time decision, read back as one
// cell per (token, block) from the transformer's routingTable. Cells cover every block: dense
// blocks always process the token. Blocks with an MoE MLP add which experts processed each
// token (section 6).
import * as tf from "@tensorflow/tfjs-core";
import { expertsAt, type ResolvedModelConfig } from "@mixdepth/core";
import { routingTable, type ExpertTrace, type RoutingTrace, type Transformer } from "@mixdepth/transformer";
import type { MapBlock, MapCell } from "./routing-map.js";

export function mapBlocks(model: Pick<Transformer, "config">): MapBlock[] {
  return model.config.layers.map((l) => {
    const e = expertsAt(model.config, l.index);
    return { index: l.index, routed: l.routed, capacity: l.routed ? l.capacity : 1, ...(e ? { experts: e.count } : {}) };
  });
}

/** Cells [token][block] of sequence 0 from a forward pass's traces (a BlockVisit of the routingTable is a cell). */
export function cellsFromTraces(config: ResolvedModelConfig, tokens: number, traces: readonly RoutingTrace[], expertTraces: readonly ExpertTrace[]): MapCell[][] {
  return (routingTable({ config }, traces, { length: tokens }, expertTraces)[0] ?? []).map((t) => t.blocks);
}

/**
 * Routes the prompt in one forward pass with "topk" (training-time expert choice over the
 * whole prompt) or "causal" (the sampling-time decision, token by token) and returns one
 * column of cells per prompt token.
 */
export function teacherForced(model: Transformer, ids: readonly number[], routing: "topk" | "causal"): MapCell[][] {
  const input = tf.tensor2d([ids as number[]], [1, ids.length], "int32");
  try {
    const out = model.forward(input, { routing, trace: true });
    tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
    return cellsFromTraces(model.config, ids.length, out.traces, out.expertTraces);
  } finally {
    input.dispose();
  }
}
