// Evaluation (docs/method.md section 3): validation loss and bits per byte with training-time top-k
// routing and with causal routing, and, per routed block, how well the causal decision
// (predictor or threshold) matches top-k on the same block input: accuracy, precision,
// recall, and the realized routed fraction against the nominal capacity.
import * as tf from "@tensorflow/tfjs";
import { embeddingLookup, type Transformer } from "@mixdepth/transformer";
import { measureCausalRouting } from "@mixdepth/router";
import { routedTokens } from "@mixdepth/core";
import type { Batch } from "./data.js";

export interface LayerRouting {
  layer: number;
  /** k / S under top-k. */
  nominalFraction: number;
  /** Fraction the causal rule routes, on the top-k path's block input. */
  causalFraction: number;
  accuracy: number;
  precision: number;
  recall: number;
}

export interface EvalResult {
  tokens: number;
  topk: { loss: number; bpb: number };
  /** Null for dense models (no routing: same as top-k). */
  causal: { loss: number; bpb: number } | null;
  routing: LayerRouting[];
  seconds: number;
  tokensPerSec: number;
}

const LN2 = Math.log(2);

function toTensors(b: Batch, batchSize: number, seqLen: number): [tf.Tensor2D, tf.Tensor2D] {
  return [tf.tensor2d(b.inputs, [batchSize, seqLen], "int32"), tf.tensor2d(b.targets, [batchSize, seqLen], "int32")];
}

/**
 * Routes the block inputs of the top-k forward pass both ways at every routed block. The
 * hidden states are rebuilt here from the model's public pieces (embedding, blocks); the
 * top-level computation mirrors Transformer.forward.
 */
function routingStats(model: Transformer, tokens: tf.Tensor2D): { layer: number; tp: number; fp: number; fn: number; tn: number; target: number }[] {
  const c = model.config;
  const [b, s] = tokens.shape;
  const w = model.getWeights();
  const out: { layer: number; tp: number; fp: number; fn: number; tn: number; target: number }[] = [];
  tf.tidy(() => {
    let x = tf.reshape(embeddingLookup(w.get("tok_emb") as unknown as tf.Tensor2D, tf.reshape(tokens, [b * s]) as tf.Tensor1D), [b, s, c.dModel]) as tf.Tensor3D;
    if (c.family === "gpt2") x = tf.add(x, tf.slice(w.get("pos_emb") as tf.Tensor, [0, 0], [s, c.dModel])) as tf.Tensor3D;
    const positions = tf.tile(tf.reshape(tf.range(0, s, 1, "int32"), [1, s]), [b, 1]) as tf.Tensor2D;
    for (const block of model.blocks) {
      if (block.router) {
        const a = measureCausalRouting(block.router, x, routedTokens(block.capacity, s), c.routing.causal);
        out.push({ layer: block.index, tp: a.tp, fp: a.fp, fn: a.fn, tn: a.tn, target: a.targetFraction });
      }
      const r = block.forward(x, positions, { mode: "topk", trace: false });
      tf.dispose(Object.values(r.auxLosses));
      x = r.x;
    }
  });
  return out;
}

/** Evaluates on fixed batches. Frees everything it allocates. */
export function evaluate(model: Transformer, batches: Batch[], batchSize: number, seqLen: number, bytesPerToken = 1): EvalResult {
  const t0 = performance.now();
  const routed = model.config.routing.blocks.length > 0;
  let topk = 0;
  let causal = 0;
  const counts = new Map<number, { tp: number; fp: number; fn: number; tn: number; target: number }>();
  for (const batch of batches) {
    const [x, y] = toTensors(batch, batchSize, seqLen);
    try {
      const l = tf.tidy(() => {
        const a = model.loss(x, y, { routing: "topk" }).lm;
        const b = routed ? model.loss(x, y, { routing: "causal" }).lm : a;
        return tf.stack([a, b]);
      });
      const [a, b] = l.dataSync();
      l.dispose();
      topk += a as number;
      causal += b as number;
      if (routed) {
        for (const r of routingStats(model, x)) {
          const c = counts.get(r.layer) ?? { tp: 0, fp: 0, fn: 0, tn: 0, target: r.target };
          c.tp += r.tp;
          c.fp += r.fp;
          c.fn += r.fn;
          c.tn += r.tn;
          counts.set(r.layer, c);
        }
      }
    } finally {
      tf.dispose([x, y]);
    }
  }
  const n = batches.length;
  const seconds = (performance.now() - t0) / 1000;
  const tokens = n * batchSize * seqLen;
  const bpb = (nats: number) => nats / LN2 / bytesPerToken;
  return {
    tokens,
    topk: { loss: topk / n, bpb: bpb(topk / n) },
    causal: routed ? { loss: causal / n, bpb: bpb(causal / n) } : null,
    routing: [...counts].map(([layer, c]) => {
      const all = c.tp + c.fp + c.fn + c.tn;
      return {
        layer,
        nominalFraction: c.target,
        causalFraction: (c.tp + c.fp) / all,
        accuracy: (c.tp + c.tn) / all,
        precision: c.tp + c.fp ? c.tp / (c.tp + c.fp) : Number.NaN,
        recall: c.tp + c.fn ? c.tp / (c.tp + c.fn) : Number.NaN,
      };
    }),
    seconds,
    tokensPerSec: tokens / seconds,
  };
}
