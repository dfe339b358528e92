// Test-only routers registered through the public registry, and a finite-difference check
// over a model's variables.
import * as tf from "@tensorflow/tfjs";
import { registerRouter, topkPositions, type Router, type RouterContext } from "@mixdepth/router";
import type { Transformer } from "../src/index.js";

/** A weightless router whose score of token i in a sequence of S is `score(i, S)`. */
class PatternRouter implements Router {
  constructor(
    readonly kind: string,
    private readonly score: (i: number, s: number) => number,
  ) {}
  private scoresFor(x: tf.Tensor3D): tf.Tensor2D {
    const [b, s] = x.shape;
    const row = Array.from({ length: s }, (_, i) => this.score(i, s));
    return tf.tensor2d(Array.from({ length: b }, () => row).flat(), [b, s]);
  }
  route(x: tf.Tensor3D, k: number) {
    const [b, s] = x.shape;
    const scores = this.scoresFor(x);
    const indices = tf.tensor2d(topkPositions(scores.dataSync() as Float32Array, b, s, k), [b, k], "int32");
    return { scores, indices, auxLosses: {} };
  }
  routeCausal(x: tf.Tensor3D) {
    const scores = this.scoresFor(x);
    return tf.tidy(() => ({ scores: tf.clone(scores), selected: tf.greater(scores, 0) as tf.Tensor2D, probability: tf.sigmoid(scores) as tf.Tensor2D }));
  }
  weights() {
    return new Map<string, tf.Variable>();
  }
  toJSON() {
    return { kind: this.kind, options: {} };
  }
  dispose() {}
}

/** "ones": every score 1 (all ties). "scrambled": score 1 + ((5 i) mod S) / S, which picks uneven, non-contiguous positions. */
export function registerTestRouters(): void {
  registerRouter("ones", (_c: RouterContext) => new PatternRouter("ones", () => 1), { override: true });
  registerRouter("scrambled", (_c: RouterContext) => new PatternRouter("scrambled", (i, s) => 1 + ((5 * i) % s) / s), { override: true });
}

/**
 * Central finite differences of `loss()` w.r.t. a few coordinates of the named variables,
 * against tf.variableGrads. Coordinates where the routing changes between +eps and -eps are
 * skipped (top-k is piecewise constant). Returns the worst relative error
 * |a - n| / max(floor, |a| + |n|), floor = 5 % of the largest analytic entry of that variable.
 */
export function variableGradCheck(
  model: Transformer,
  loss: () => { value: tf.Scalar; key: string },
  names: string[],
  options: { eps?: number; coords?: number } = {},
): { worst: number; checked: number; skipped: number } {
  const eps = options.eps ?? 1e-2;
  const coords = options.coords ?? 4;
  const weights = model.getWeights();
  const vars = names.map((n) => {
    const v = weights.get(n);
    if (!v) throw new Error(`no weight ${n}`);
    return v;
  });
  const grads = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => loss().value, vars);
    return names.map((_, i) => (grads[(vars[i] as tf.Variable).name] as tf.Tensor).dataSync().slice());
  });
  let worst = 0;
  let checked = 0;
  let skipped = 0;
  vars.forEach((v, vi) => {
    const base = v.dataSync().slice();
    const g = grads[vi] as Float32Array;
    let maxA = 0;
    for (const a of g) maxA = Math.max(maxA, Math.abs(a));
    // Coordinates with the largest analytic gradient, so the check is not vacuous.
    const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b] as number) - Math.abs(g[a] as number)).slice(0, coords);
    for (const j of order) {
      const at = (delta: number) => {
        const p = base.slice();
        p[j] = (p[j] as number) + delta;
        tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
        const r = loss();
        const val = r.value.dataSync()[0] as number;
        r.value.dispose();
        return { val, key: r.key };
      };
      const plus = at(eps);
      const minus = at(-eps);
      tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
      if (plus.key !== minus.key) {
        skipped++;
        continue;
      }
      const numeric = (plus.val - minus.val) / (2 * eps);
      const a = g[j] as number;
      worst = Math.max(worst, Math.abs(a - numeric) / Math.max(0.05 * maxA + 1e-7, Math.abs(a) + Math.abs(numeric)));
      checked++;
    }
  });
  return { worst, checked, skipped };
}
