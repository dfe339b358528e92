// Small building blocks shared by the transformer block and the model: parameter
// initialisation, norms, linear maps, activations, rotary embeddings, attention masks.
// Every function runs inside the caller's tf.tidy and never disposes its inputs.
import * as tf from "@tensorflow/tfjs-core";
import { gaussian } from "@mixdepth/core";

/** A trainable parameter initialised N(0, std) from a seeded uniform source. */
export function normalParam(rand: () => number, shape: number[], std: number): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  // Inside tidy: the variable keeps its own reference, the initial tensor is freed.
  return tf.tidy(() => tf.variable(tf.tensor(gaussian(rand, n, std), shape), true));
}

export function constParam(shape: number[], value: number): tf.Variable {
  return tf.tidy(() => tf.variable(tf.fill(shape, value), true));
}

/**
 * x [..., n] @ w [n, m] (+ b [m]) as one 2-D matMul, so it is one kernel of 2*rows*n*m FLOPs.
 * Its gradient's transposed matmuls are fast on wasm once @mixdepth/backend's setupBackend
 * has installed its matmul fix.
 */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor {
  const shape = x.shape;
  const n = shape[shape.length - 1] as number;
  const rows = x.size / n;
  let y: tf.Tensor = tf.matMul(tf.reshape(x, [rows, n]), w); // [rows, m]
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [...shape.slice(0, -1), w.shape[1]]);
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * g + b (biased variance). */
export function layerNorm(x: tf.Tensor, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), g), b);
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * g. */
export function rmsNorm(x: tf.Tensor, g: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), g);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/** SiLU: x * sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Rotary position embedding, half-split convention (GPT-NeoX / Llama in Hugging Face):
 * for head vector [x1, x2] (halves), out = [x1 cos - x2 sin, x2 cos + x1 sin] with angle
 * pos * base^(-2i/headDim) for pair i. x: [B, H, T, hd], positions: [B, T] int32 (original
 * positions of the tokens, not 0..T-1).
 */
export function rotary(x: tf.Tensor4D, positions: tf.Tensor2D, base: number): tf.Tensor4D {
  const [b, , t, hd] = x.shape;
  const half = hd / 2;
  const invFreq = tf.tensor1d(Array.from({ length: half }, (_, i) => Math.pow(base, (-2 * i) / hd)));
  const angles = tf.mul(tf.reshape(tf.cast(positions, "float32"), [b, 1, t, 1]), tf.reshape(invFreq, [1, 1, 1, half]));
  const cos = tf.cos(angles);
  const sin = tf.sin(angles);
  const [x1, x2] = tf.split(x, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
  return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 3) as tf.Tensor4D;
}

/** Added to masked attention logits; finite so that fully masked rows stay NaN-free. */
export const MASKED = -1e9;

/**
 * Additive attention mask [B, 1, Tq, Tk] as row-major data: 0 where the key's position <= the
 * query's (and the key is valid), MASKED elsewhere. Built on the host from position ids, so
 * it is right for gathered tokens and for keys coming from a cache. Returns null when nothing
 * is masked (e.g. one new token after its cached keys): the caller skips the add.
 */
export function attentionMask(
  queryPositions: Int32Array,
  keyPositions: Int32Array,
  keyValid: Uint8Array | null,
  batch: number,
  tq: number,
  tk: number,
): Float32Array | null {
  let out: Float32Array | null = null;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < tq; i++) {
      const q = queryPositions[b * tq + i] as number;
      for (let j = 0; j < tk; j++) {
        if ((keyPositions[b * tk + j] as number) <= q && (keyValid === null || keyValid[b * tk + j])) continue;
        out ??= new Float32Array(batch * tq * tk);
        out[(b * tq + i) * tk + j] = MASKED;
      }
    }
  }
  return out;
}
