// Differentiable gather/scatter of routed tokens (docs/method.md section 2, steps 3 and 5).
// tf.gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks, and GatherNd /
// ScatterNd have no gradient anywhere: so both directions are custom gradients built from
// forward kernels every backend has (GatherV2 on axis 0, ScatterNd). Tokens are addressed by
// flat row ids b*S + i: the wasm backend's GatherV2 with batchDims=1 returns wrong rows for
// some shapes in tfjs 4.22 (e.g. B=2, S=k=8), so batchDims is never used.
import * as tf from "@tensorflow/tfjs-core";

/** [B, k] positions -> [B*k] flat row ids b*S + position. Caller owns the result. */
export function flatIndices(indices: tf.Tensor2D, seqLen: number): tf.Tensor1D {
  return tf.tidy(() => {
    const [b] = indices.shape;
    const offsets = tf.mul(tf.reshape(tf.range(0, b, 1, "int32"), [b, 1]), tf.scalar(seqLen, "int32"));
    return tf.reshape(tf.add(tf.cast(indices, "int32"), offsets), [-1]) as tf.Tensor1D;
  });
}

/** out[b, j, ...] = x[b, indices[b, j], ...] without gradient (ids, positions). */
export function gatherRows<T extends tf.Tensor>(x: T, indices: tf.Tensor2D): T {
  return tf.tidy(() => {
    const [b, s, ...rest] = x.shape;
    const k = indices.shape[1];
    const rows = tf.gather(tf.reshape(x, [b * (s as number), ...rest]), flatIndices(indices, s as number), 0);
    return tf.reshape(rows, [b, k, ...rest]) as T;
  });
}

/**
 * Gathers the routed tokens of each sequence: out[b, j] = x[b, indices[b, j]].
 * x: [B, S, d], indices: [B, k] int32. Backward scatters the gradient back to the positions.
 */
export function gatherTokens(x: tf.Tensor3D, indices: tf.Tensor2D): tf.Tensor3D {
  const [b, s, d] = x.shape;
  const k = indices.shape[1];
  const f = tf.customGrad(((xIn: tf.Tensor3D, save: tf.GradSaveFunc) => {
    const flat = flatIndices(indices, s);
    save([flat]);
    return {
      value: tf.reshape(tf.gather(tf.reshape(xIn, [b * s, d]), flat, 0), [b, k, d]) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) =>
        tf.reshape(tf.scatterND(tf.reshape(saved[0] as tf.Tensor1D, [b * k, 1]), tf.reshape(dy, [b * k, d]), [b * s, d]), [b, s, d]),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor3D;
}

/**
 * Adds each sequence's routed updates back at their positions: out = x; out[b, indices[b, j]] += y[b, j].
 * x: [B, S, d], y: [B, k, d], indices: [B, k] int32 (unique per row). Tokens not routed pass
 * through unchanged. Backward: dx = dy, dy_routed = gather(dy).
 */
export function scatterAddTokens(x: tf.Tensor3D, y: tf.Tensor3D, indices: tf.Tensor2D): tf.Tensor3D {
  const [b, s, d] = x.shape;
  const k = indices.shape[1];
  const f = tf.customGrad(((xIn: tf.Tensor3D, yIn: tf.Tensor3D, save: tf.GradSaveFunc) => {
    const flat = flatIndices(indices, s);
    save([flat]);
    const update = tf.scatterND(tf.reshape(flat, [b * k, 1]), tf.reshape(yIn, [b * k, d]), [b * s, d]);
    return {
      value: tf.add(xIn, tf.reshape(update, [b, s, d])) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => [
        tf.clone(dy),
        tf.reshape(tf.gather(tf.reshape(dy, [b * s, d]), saved[0] as tf.Tensor1D, 0), [b, k, d]),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, y) as tf.Tensor3D;
}
