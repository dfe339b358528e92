// Embedding lookup with a gradient that every backend can run.
// tf.gather's own gradient needs UnsortedSegmentSum, which the wasm backend does not
// register (platform-notes.md), so the lookup is a tf.customGrad pair of forward ops:
// Gather forward, ScatterNd backward (ScatterNd sums duplicate ids, as an embedding
// gradient must). Neither is a matmul: embedding lookups cost no FLOPs (docs/method.md section 7).
import * as tf from "@tensorflow/tfjs-core";

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * Rows of `table` [N, d] at `ids` [M] int32, as [M, d]. Differentiable w.r.t. `table` on
 * cpu and wasm; repeated ids accumulate their gradients. Caller owns the result.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const [n, d] = table.shape;
  const f = tf.customGrad(((t: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([ids]);
    return {
      value: tf.gather(t, ids, 0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.scatterND(tf.expandDims(saved[0] as tf.Tensor1D, 1), dy, [n, d])],
    };
  }) as unknown as CustomGradFn);
  return f(table) as tf.Tensor2D;
}
