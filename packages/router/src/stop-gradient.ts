// tfjs has no stop-gradient op; this identity passes zero gradient back to its input.
import * as tf from "@tensorflow/tfjs-core";

const stop = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]);

/** Identity in the forward pass; no gradient reaches `x` through the result. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
