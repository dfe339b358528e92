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

/**
 * GELU, tanh approximation (as GPT-2): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x * sigmoid(2u), the same function (0.5 (1 + tanh(u)) = sigmoid(2u)): the wasm
 * backend's Sigmoid is vectorised, its Tanh is not (39 ms against 2.3 ms on [2048, 1024]), and
 * it takes two elementwise kernels fewer.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const twoU = tf.mul(tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x)))), 2 * SQRT_2_OVER_PI);
  return tf.mul(x, tf.sigmoid(twoU));
}

/** SiLU: x * sigmoid(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * cos and sin of the rotary angles theta_i = p * base^(-2i/hd), i = 0..hd/2-1, at positions
 * p = 0, 1, ..., as float32 the way the reference computes them (inverse frequencies in
 * float32, then one float32 product). Host data computed once per (base, hd) and grown to the
 * largest position asked for: every block and every forward pass reads the same table
 * instead of rebuilding it with Cast/Mul/Cos/Sin kernels in each layer.
 */
class RotaryTable {
  cos = new Float32Array(0);
  sin = new Float32Array(0);
  rows = 0;

  constructor(
    readonly base: number,
    readonly hd: number,
  ) {}

  /** Makes rows 0..maxPosition available. */
  reserve(maxPosition: number): void {
    if (maxPosition < this.rows) return;
    const rows = Math.max(maxPosition + 1, 2 * this.rows, 64);
    const half = this.hd / 2;
    const invFreq = Array.from({ length: half }, (_, i) => Math.fround(Math.pow(this.base, (-2 * i) / this.hd)));
    const cos = new Float32Array(rows * half);
    const sin = new Float32Array(rows * half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.rows; p < rows; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * (invFreq[i] as number)); // the float32 product
        cos[p * half + i] = Math.cos(angle);
        sin[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.rows = rows;
  }
}

const rotaryTables = new Map<string, RotaryTable>();

/**
 * Rotary cos and sin for `positions` ([B * T] row-major, the tokens' original positions) as
 * host arrays [B * T * hd/2], to upload once per block call as [B, 1, T, hd/2] (broadcast over
 * heads; q and k share them). Rows are copied from a table built once per (base, hd).
 */
export function rotaryAngles(positions: Int32Array, hd: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const key = `${base}/${hd}`;
  let table = rotaryTables.get(key);
  if (!table) rotaryTables.set(key, (table = new RotaryTable(base, hd)));
  let max = 0;
  for (const p of positions) if (p > max) max = p;
  table.reserve(max);
  const half = hd / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((p, r) => {
    cos.set(table.cos.subarray(p * half, (p + 1) * half), r * half);
    sin.set(table.sin.subarray(p * half, (p + 1) * half), r * half);
  });
  return { cos, sin };
}

/**
 * Rotary position embedding, half-split convention (GPT-NeoX / Llama in Hugging Face):
 * for head vector [x1, x2] (halves), out = [x1 cos - x2 sin, x2 cos + x1 sin] with angle
 * pos * base^(-2i/headDim) for pair i. x: [B, H, T, hd]; cos, sin: [B, 1, T, hd/2] from
 * {@link rotaryAngles} at the tokens' ORIGINAL positions (not 0..T-1).
 */
export function rotary(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
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
