// Tensor test helpers: backend switching, leak checks, finite-difference gradient checks.
import * as tf from "@tensorflow/tfjs";
import { loadBackend } from "@mixdepth/backend";
import { expect } from "vitest";

export type TestBackend = "cpu" | "wasm";

/** Backends every backend-sensitive suite runs on (MIXDEPTH_TEST_BACKENDS="cpu,wasm"). */
export function testBackends(): TestBackend[] {
  const raw = process.env.MIXDEPTH_TEST_BACKENDS ?? "cpu,wasm";
  return raw.split(",").map((s) => s.trim()).filter(Boolean) as TestBackend[];
}

/** Activates `name` (loading wasm binaries from the installed package if needed). */
export async function useBackend(name: TestBackend): Promise<void> {
  if (tf.getBackend() === name) return;
  await loadBackend(name, { log: null });
}

/**
 * Runs `fn` and asserts that it leaves no new tensors behind. `fn` must dispose what it
 * creates (or return nothing tensor-valued). Returns fn's result.
 */
export async function expectNoLeaks<T>(fn: () => T | Promise<T>, label = "tensors"): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  expect(after - before, `${label}: leaked ${after - before} tensors`).toBe(0);
  return out;
}

/** Max |a - b| over two tensors (or arrays) of the same shape. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  const av = a instanceof tf.Tensor ? a.dataSync() : a;
  const bv = b instanceof tf.Tensor ? b.dataSync() : b;
  expect(av.length).toBe(bv.length);
  let m = 0;
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs((av[i] as number) - (bv[i] as number)));
  return m;
}

/**
 * Central finite differences of a scalar function `f` w.r.t. each input, compared with
 * `tf.grads`. Runs in float32, so use small inputs, eps ~1e-2..1e-3 and a tolerance to match.
 * Checks at most `maxCoords` coordinates per input (spread evenly) to stay fast.
 * Returns the largest relative error seen.
 */
export function gradCheck(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  options: { eps?: number; maxCoords?: number } = {},
): number {
  const eps = options.eps ?? 1e-2;
  const maxCoords = options.maxCoords ?? 24;
  const analytic = tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => f(...xs))(inputs).map((g) => g.dataSync().slice()));
  let worst = 0;
  inputs.forEach((x, i) => {
    const base = x.dataSync().slice();
    const flatGrad = analytic[i] as Float32Array;
    const n = base.length;
    const stride = Math.max(1, Math.floor(n / maxCoords));
    for (let j = 0; j < n; j += stride) {
      const evalAt = (delta: number): number =>
        tf.tidy(() => {
          const v = base.slice();
          v[j] = (v[j] as number) + delta;
          const xs = inputs.map((inp, k) => (k === i ? tf.tensor(v, x.shape, x.dtype) : inp));
          return f(...xs).dataSync()[0] as number;
        });
      const numeric = (evalAt(eps) - evalAt(-eps)) / (2 * eps);
      const a = flatGrad[j] as number;
      const err = Math.abs(a - numeric) / Math.max(1e-2, Math.abs(a) + Math.abs(numeric));
      worst = Math.max(worst, err);
    }
  });
  return worst;
}
