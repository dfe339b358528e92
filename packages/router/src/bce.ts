// Binary cross-entropy with logits, mean over all entries: softplus(z) - z*t. Built from ops
// whose gradients exist on every backend (no abs/where on comparisons).
import * as tf from "@tensorflow/tfjs-core";

export function bceWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(tf.softplus(logits), tf.mul(logits, targets))) as tf.Scalar);
}
