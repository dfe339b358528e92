// Next-token cross-entropy in nats, mean over every token of the batch.
import * as tf from "@tensorflow/tfjs-core";

/**
 * mean over b, t of -log softmax(logits[b, t])[targets[b, t]]. logits [B, S, V] float32,
 * targets [B, S] int32 in [0, V). Uses a one-hot product (no gather gradient needed).
 */
export function crossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Scalar {
  const [b, s, v] = logits.shape;
  return tf.tidy(() => {
    const logp = tf.logSoftmax(tf.reshape(logits, [b * s, v])); // [B*S, V]
    const onehot = tf.cast(tf.oneHot(tf.reshape(tf.cast(targets, "int32"), [b * s]) as tf.Tensor1D, v), "float32"); // [B*S, V]
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), 1))) as tf.Scalar;
  });
}
