// Route results from scores, for routers whose decisions are the plain rules of docs/method.md
// sections 2-3: top-k of r per sequence (training), r > 0 i.e. sigmoid(r) > 0.5 (sampling).
// Each reads the scores back ONCE and makes the decisions on the host, where the block
// needs them; nothing is uploaded only to be read back again.
import type * as tf from "@tensorflow/tfjs-core";
import type { CausalRouteResult, RouteResult } from "./router.js";
import { assertK, topkPositions } from "./topk.js";

/**
 * Top-k routing by `scores` [B, S]: exactly k positions per row, ascending, ties to the
 * earlier position. The result holds `scores` itself (the caller owns it through the result);
 * on a bad k it disposes `scores` and throws, so a router can `return topkRoute(this.scores(x), k)`.
 */
export function topkRoute(scores: tf.Tensor2D, k: number, auxLosses: Record<string, tf.Scalar> = {}): RouteResult {
  const [batch, seqLen] = scores.shape;
  try {
    assertK(k, seqLen);
  } catch (err) {
    scores.dispose();
    throw err;
  }
  const hostScores = scores.dataSync() as Float32Array;
  return { scores, hostScores, positions: topkPositions(hostScores, batch, seqLen, k), auxLosses };
}

/**
 * Causal decisions from host logits [B * S] (the scores themselves for the threshold rule,
 * the predictor's logits for the predictor rule): routed where logit > 0, probability sigmoid.
 */
export function causalDecisions(logits: ArrayLike<number>): { selected: Uint8Array; probability: Float32Array } {
  const n = logits.length;
  const selected = new Uint8Array(n);
  const probability = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = logits[i] as number;
    selected[i] = z > 0 ? 1 : 0;
    probability[i] = 1 / (1 + Math.exp(-z));
  }
  return { selected, probability };
}

/** The threshold rule on `scores` [B, S]: routed where r > 0. Holds `scores` itself. */
export function thresholdRoute(scores: tf.Tensor2D): CausalRouteResult {
  const hostScores = scores.dataSync() as Float32Array;
  return { scores, hostScores, ...causalDecisions(hostScores) };
}
