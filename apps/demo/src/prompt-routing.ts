// What the page needs from a model: teacher-forced routing of the prompt (top-k and causal,
// mod-spec sections 2-3) and streaming generation that reports, per token, which blocks
// processed it. Cells cover every block: dense blocks always process the token.
import * as tf from "@tensorflow/tfjs-core";
import type { Transformer } from "@mixdepth/transformer";
import type { MapBlock, MapCell, RoutedFraction } from "./routing-map.js";

export interface StepReport {
  /** Index of this generated token (0-based). */
  step: number;
  token: number;
  /** Position of the token in the sequence (prompt + generated). */
  position: number;
  /** One cell per block, in block order: did the block process this token. */
  cells: MapCell[];
  /** Wall time of the step, ms (forward + sampling + reading the result back). */
  ms: number;
}

export interface GenerationResult {
  tokens: number[];
  /** Realized routed fraction per routed block over the generated tokens, as the decoder reports it. */
  fractions: RoutedFraction[];
  /** Who computed the fractions (shown on the page). */
  source: string;
}

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
