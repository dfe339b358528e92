// Seeded sampling on the host. Probabilities are read back from the tensor and the uniform
// draws come from a JS PRNG (mulberry32, 32-bit state), so the same seed gives the same
// tokens on every backend whenever the backends agree on the probabilities. tf.multinomial
// is not used: its output differs between backends for the same seed.

import { mulberry32 } from "@mixdepth/core";

/** A uniform source on [0, 1). */
export type Rng = () => number;

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): `createRng(seed)` yields the same stream of
 * uniforms in [0, 1) for the same integer seed, on every platform.
 */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) throw new RangeError(`seed: must be an integer (got ${JSON.stringify(seed)})`);
  return mulberry32(seed);
}

/**
 * Draws one index from unnormalised non-negative weights by inverse CDF with one uniform
 * from `rng`. Accumulates in float64 and renormalises, so float32 rounding in a softmax does
 * not bias the draw. Zero-weight entries are never chosen. Throws if no weight is positive.
 */
export function sampleIndex(weights: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as number;
    if (w > 0) total += w;
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new RangeError(`sampleIndex: no positive finite probability among ${weights.length} entries (total ${total})`);
  }
  const target = rng() * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as number;
    if (!(w > 0)) continue;
    acc += w;
    last = i;
    if (target < acc) return i;
  }
  return last; // target rounded up to total: the last positive entry
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
