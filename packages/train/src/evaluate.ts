// Evaluation (docs/method.md section 3): validation loss and bits per byte with training-time top-k
// routing and with causal routing, and, per routed block, how well the causal decision
// (predictor or threshold) matches top-k on the same block input: accuracy, precision,
// recall, and the realized routed fraction against the nominal capacity.
// The agreement is counted from what the model's own top-k forward pass observes at each
// routed block (RoutingAgreementCounter), the same count the sampler's stats use.
import * as tf from "@tensorflow/tfjs-core";
import { RoutingAgreementCounter, type Transformer } from "@mixdepth/transformer";
import { batchTensors, type Batch } from "./batcher.js";

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

/**
 * Validation loss and bits per byte of `batches` (each `batchSize` x `seqLen`, e.g. from
 * evalBatches) with top-k and with causal routing, and each routed block's causal-vs-top-k
 * agreement. `bytesPerToken` converts nats per token into bits per byte (1 for bytes).
 * Frees everything it allocates.
 */
export function evaluate(model: Transformer, batches: Batch[], batchSize: number, seqLen: number, bytesPerToken = 1): EvalResult {
  const t0 = performance.now();
  const routed = model.config.routing.blocks.length > 0;
  let topk = 0;
  let causal = 0;
  const agreement = new RoutingAgreementCounter();
  for (const batch of batches) {
    const { x, y } = batchTensors(batch, batchSize, seqLen); // [B, S] int32 each
    try {
      const l = tf.tidy(() => {
        const a = model.loss(x, y, { routing: "topk", ...(routed ? { observe: agreement.observe } : {}) }).lm;
        const b = routed ? model.loss(x, y, { routing: "causal" }).lm : a;
        return tf.stack([a, b]);
      });
      const [a, b] = l.dataSync();
      l.dispose();
      topk += a as number;
      causal += b as number;
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
    routing: agreement.blocks().map((a) => ({
      layer: a.layer,
      nominalFraction: a.targetFraction,
      causalFraction: a.routedFraction,
      accuracy: a.accuracy,
      precision: a.precision,
      recall: a.recall,
    })),
    seconds,
    tokensPerSec: tokens / seconds,
  };
}
