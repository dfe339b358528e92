// Teacher-forced routing of the prompt (docs/method.md sections 2-3): one forward pass with
// training-time top-k routing or with the causal sampling-time decision, read back as one
// cell per (token, block). Cells cover every block: dense blocks always process the token.
import * as tf from "@tensorflow/tfjs-core";
import type { Transformer } from "@mixdepth/transformer";
import type { MapBlock, MapCell } from "./routing-map.js";

export function mapBlocks(model: Transformer): MapBlock[] {
  return model.config.layers.map((l) => ({ index: l.index, routed: l.routed, capacity: l.routed ? l.capacity : 1 }));
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
    const byLayer = new Map(out.traces.map((t) => [t.layer, t]));
    return ids.map((_, pos) =>
      model.config.layers.map((l): MapCell => {
        const t = byLayer.get(l.index);
        if (!l.routed || !t) return { processed: true };
        const processed = (t.processed[0] ?? []).includes(pos);
        const score = t.scores[0]?.[pos];
        const probability = t.probability?.[0]?.[pos];
        return { processed, ...(score === undefined ? {} : { score }), ...(probability === undefined ? {} : { probability }) };
      }),
    );
  } finally {
    input.dispose();
  }
}
