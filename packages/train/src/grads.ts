// Gradients by weight name. tf.variableGrads keys its gradients by tf.Variable name (unique
// per variable, e.g. "blocks.0.attn.wq.17"); the optimizer, the clipper and checkpoints speak
// the model's weight names ("blocks.0.attn.wq"). This is the one place that maps one to the
// other, so decay groups and saved moments line up with the weights they belong to.
import * as tf from "@tensorflow/tfjs-core";

/** The trainable weights of a model (a @mixdepth/transformer Transformer), by weight name. */
export function trainableWeights(model: { getWeights(): Map<string, tf.Variable> }): Map<string, tf.Variable> {
  return new Map([...model.getWeights()].filter(([, v]) => v.trainable));
}

/**
 * Value of `f` and its gradients with respect to every weight of `params`, keyed by weight
 * name. Runs `f` under tf.variableGrads (its intermediates are freed); caller owns the value
 * and the gradients. A weight that `f` does not reach gets a zero gradient.
 */
export function valueAndGrads(f: () => tf.Scalar, params: Map<string, tf.Variable>): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(f, [...params.values()]);
  const out = new Map<string, tf.Tensor>();
  for (const [name, v] of params) out.set(name, grads[v.name] ?? tf.zerosLike(v));
  return { value, grads: out };
}
