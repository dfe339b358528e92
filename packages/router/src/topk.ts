// Expert-choice selection (docs/method.md section 2): the k largest scores of each sequence,
// returned as positions sorted ascending so gathering keeps causal order. Done on the host:
// exact k per row, ties broken toward the earlier position, identical on every backend
// (tf.topk's tie order differs between backends). Indices are data and carry no gradient.
import * as tf from "@tensorflow/tfjs-core";

/** Throws unless 1 <= k <= seqLen (an integer). */
export function assertK(k: number, seqLen: number): void {
  if (!Number.isInteger(k) || k < 1 || k > seqLen) throw new RangeError(`k: must be an integer in [1, ${seqLen}] (got ${k})`);
}

/** Per-row top-k positions of `scores` [B, S], each row sorted ascending. */
export function topkPositions(scores: Float32Array | number[], batch: number, seqLen: number, k: number): Int32Array {
  assertK(k, seqLen);
  const out = new Int32Array(batch * k);
  const order = new Array<number>(seqLen);
  for (let b = 0; b < batch; b++) {
    const base = b * seqLen;
    for (let i = 0; i < seqLen; i++) order[i] = i;
    // Descending score, then ascending position: a strict total order, so exactly k win.
    order.sort((i, j) => (scores[base + j] as number) - (scores[base + i] as number) || i - j);
    const chosen = order.slice(0, k).sort((i, j) => i - j); // sort the indices themselves (not argsort)
    out.set(chosen, b * k);
  }
  return out;
}

/** [B, S] float32 mask with 1 at the selected positions, built per row (no flat-index batch offset to forget). */
export function selectionMask(indices: Int32Array, batch: number, seqLen: number, k: number): tf.Tensor2D {
  const mask = new Float32Array(batch * seqLen);
  for (let b = 0; b < batch; b++) for (let j = 0; j < k; j++) mask[b * seqLen + (indices[b * k + j] as number)] = 1;
  return tf.tensor2d(mask, [batch, seqLen]);
}
