// Tensor test helpers: backend switching, leak checks, finite-difference gradient checks.
import * as tf from "@tensorflow/tfjs";
import { setupBackend } from "@mixdepth/backend";
import { expect } from "vitest";

export type TestBackend = "cpu" | "wasm" | "tensorflow";

const TEST_BACKENDS: readonly TestBackend[] = ["cpu", "wasm", "tensorflow"];

/**
 * Where the native packages are installed in this workspace: the trainer lists
 * @tensorflow/tfjs-node-gpu, and the packages under test do not (libraries never pick a
 * backend). `pnpm native:install --from-pip` builds its binding offline.
 */
const NATIVE_FROM = [new URL("../../../apps/trainer/", import.meta.url).pathname];

/** Checks one name from a test knob; `field` is the environment variable it came from. */
export function parseTestBackend(value: string, field: string): TestBackend {
  const v = value.trim().toLowerCase();
  if ((TEST_BACKENDS as readonly string[]).includes(v)) return v as TestBackend;
  throw new Error(`${field}: unknown test backend ${JSON.stringify(value)}; expected ${TEST_BACKENDS.slice(0, -1).join(", ")} or ${TEST_BACKENDS.at(-1)}`);
}

/**
 * Backends every backend-sensitive suite runs on: MIXDEPTH_TEST_BACKENDS="cpu,wasm" (the
 * default), e.g. "wasm" to run them on wasm only, "cpu,tensorflow" on the native backend
 * (which must load: an explicit choice never falls back). Listed in turbo.json's env so that
 * it reaches the tests through `pnpm test`.
 */
export function testBackends(env: Record<string, string | undefined> = process.env): TestBackend[] {
  const raw = env.MIXDEPTH_TEST_BACKENDS || "cpu,wasm";
  return raw.split(",").filter((s) => s.trim() !== "").map((s) => parseTestBackend(s, "MIXDEPTH_TEST_BACKENDS"));
}

/** Activates `name` through the same setup call users make (wasm: binaries from the installed package, with its fixes; tensorflow: the trainer's tfjs-node-gpu). */
export async function useBackend(name: TestBackend): Promise<void> {
  if (tf.getBackend() === name) return;
  await setupBackend({ backend: name, resolveFrom: NATIVE_FROM });
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
 * `tf.grads`. Runs in float32, so use small inputs and eps ~1e-2. Checks at most `maxCoords`
 * coordinates per input (spread evenly) to stay fast. Returns {@link relativeError} (NaN when
 * both gradients are about 0 at the checked coordinates: pick inputs where they are not).
 */
export function gradCheck(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  options: { eps?: number; maxCoords?: number } = {},
): number {
  const eps = options.eps ?? 1e-2;
  const maxCoords = options.maxCoords ?? 24;
  const analytic = tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => f(...xs))(inputs).map((g) => g.dataSync().slice()));
  const an: number[] = [];
  const nu: number[] = [];
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
      nu.push((evalAt(eps) - evalAt(-eps)) / (2 * eps));
      an.push(flatGrad[j] as number);
    }
  });
  return relativeError(an, nu);
}

/**
 * ||a - n|| / (||a|| + ||n||) over the checked coordinates: float32 central differences are
 * noisy per coordinate, but a wrong gradient is off by O(1) in this norm. NaN when both norms
 * are about 0 (nothing was compared: a gradient that vanishes at the checked coordinates, or
 * none checked), so `expect(err).toBeLessThan(tol)` fails rather than passing vacuously.
 */
export function relativeError(analytic: ArrayLike<number>, numeric: ArrayLike<number>): number {
  let diff = 0;
  let na = 0;
  let nn = 0;
  for (let i = 0; i < analytic.length; i++) {
    const a = analytic[i] as number;
    const n = numeric[i] as number;
    diff += (a - n) ** 2;
    na += a * a;
    nn += n * n;
  }
  const denom = Math.sqrt(na) + Math.sqrt(nn);
  return denom < 1e-12 ? Number.NaN : Math.sqrt(diff) / denom;
}

/**
 * Finite-difference check of d loss / d variable for code that reads tf.Variables: compares
 * `tf.variableGrads` with central differences obtained by assigning perturbed values.
 * Restores the variable. Returns {@link relativeError} over the checked coordinates.
 *
 * Piecewise-constant code (top-k routing): `loss` may return `{ value, key }`, `key` naming
 * the discrete state (e.g. the routing decisions); a coordinate whose +eps and -eps
 * evaluations disagree on the key is skipped. If every coordinate is skipped the result is
 * NaN, so `expect(err).toBeLessThan(tol)` fails rather than passing vacuously.
 * `coords`: "spread" (default; evenly spaced) or "largest" (the largest analytic entries,
 * so the check is not dominated by near-zero gradients).
 */
export function variableGradCheck(
  loss: () => tf.Scalar | { value: tf.Scalar; key: string },
  variable: tf.Variable,
  options: { eps?: number; maxCoords?: number; coords?: "spread" | "largest" } = {},
): number {
  const eps = options.eps ?? 1e-2;
  const maxCoords = options.maxCoords ?? 16;
  const scalar = (r: tf.Scalar | { value: tf.Scalar; key: string }) => (r instanceof tf.Tensor ? { value: r, key: "" } : r);
  const analytic = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => scalar(loss()).value, [variable]);
    value.dispose();
    const g = grads[variable.name];
    return g ? g.dataSync().slice() : new Float32Array(variable.size);
  });
  const base = variable.dataSync().slice();
  const stride = Math.max(1, Math.floor(base.length / maxCoords));
  const picked =
    options.coords === "largest"
      ? Array.from(analytic.keys()).sort((a, b) => Math.abs(analytic[b] as number) - Math.abs(analytic[a] as number)).slice(0, maxCoords)
      : Array.from({ length: Math.ceil(base.length / stride) }, (_, i) => i * stride);
  const an: number[] = [];
  const nu: number[] = [];
  const evalAt = (j: number, delta: number): { value: number; key: string } =>
    tf.tidy(() => {
      const v = base.slice();
      v[j] = (v[j] as number) + delta;
      variable.assign(tf.tensor(v, variable.shape, variable.dtype));
      const r = scalar(loss());
      return { value: r.value.dataSync()[0] as number, key: r.key };
    });
  try {
    for (const j of picked) {
      const plus = evalAt(j, eps);
      const minus = evalAt(j, -eps);
      if (plus.key !== minus.key) continue;
      nu.push((plus.value - minus.value) / (2 * eps));
      an.push(analytic[j] as number);
    }
  } finally {
    tf.tidy(() => variable.assign(tf.tensor(base, variable.shape, variable.dtype)));
  }
  return an.length ? relativeError(an, nu) : Number.NaN;
}
