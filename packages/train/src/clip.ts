// Gradient clipping by global norm (as torch.nn.utils.clip_grad_norm_): one norm over all
// gradients together, so clipping keeps the update's direction. Applied to the gradients
// BEFORE the optimizer step (docs/method.md section 8); the pre-clip norm is returned because
// it is the number worth logging (a rising norm is the first sign of a diverging run).
import * as tf from "@tensorflow/tfjs-core";

/**
 * Global L2 norm over all gradients and, when maxNorm > 0 and the norm exceeds it, the
 * gradients scaled by maxNorm / (norm + 1e-6). Returns new tensors (caller owns them; inputs
 * untouched) and the pre-clip norm read back to the host. maxNorm <= 0: no clipping.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const normT = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))));
  const norm = normT.dataSync()[0] as number;
  normT.dispose();
  const scale = maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) out.set(k, scale === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, scale)));
  return { grads: out, norm };
}
