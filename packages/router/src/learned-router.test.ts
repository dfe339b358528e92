// Edge cases of the learned router on every test backend: ties and the argsort mistake
// (docs/method.md section 8) through route() itself, a finite-difference check of the gradient
// that reaches w through the returned scores, weight names, and leaks on construction and
// on error paths.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { LearnedRouter } from "./learned-router.js";
import { StochasticRouter } from "./stochastic-router.js";
import type { RouterContext } from "./router.js";

/** Row-major host array -> rows. */
function rowsOf(a: ArrayLike<number>, rows: number): number[][] {
  const n = a.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(a).slice(r * n, (r + 1) * n));
}

const ctx = (over: Partial<RouterContext> = {}): RouterContext => ({
  dModel: 4, layerIndex: 1, auxLoss: { weight: 0.5 }, predictor: { hidden: 3, weight: 2 }, options: {}, seed: 11, ...over,
});

/** x [B, S, 4] whose first feature is `first[b][s]`, the rest zero; with w = e0, scores = first. */
function firstFeature(first: number[][]): tf.Tensor3D {
  return tf.tensor3d(first.map((row) => row.map((v) => [v, 0, 0, 0])));
}

function setW(r: LearnedRouter, w: number[]): void {
  tf.tidy(() => r.weights().get("w")!.assign(tf.tensor2d(w, [w.length, 1])));
}

describe.each(testBackends())("learned router edge cases on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("all-equal scores route the first k positions of every row", async () => {
    const r = new LearnedRouter(ctx());
    const x = tf.zeros([2, 6, 4]) as tf.Tensor3D; // scores all exactly 0
    await expectNoLeaks(() => {
      const out = r.route(x, 3);
      expect(rowsOf(out.positions, out.scores.shape[0])).toEqual([[0, 1, 2], [0, 1, 2]]);
      tf.dispose([out.scores, ...Object.values(out.auxLosses)]);
    });
    tf.dispose(x);
    r.dispose();
  });

  it("partial ties break toward the earlier position, per row", async () => {
    const r = new LearnedRouter(ctx());
    setW(r, [1, 0, 0, 0]);
    const x = firstFeature([[1, 1, 1, 1, 1, 1], [0, 5, 0, 5, 0, 9]]);
    await expectNoLeaks(() => {
      const out = r.route(x, 3);
      expect(rowsOf(out.positions, out.scores.shape[0])).toEqual([[0, 1, 2], [1, 3, 5]]);
      tf.dispose([out.scores, ...Object.values(out.auxLosses)]);
    });
    tf.dispose(x);
    r.dispose();
  });

  it("returns the sorted positions themselves, not an argsort of them (section 8)", async () => {
    const r = new LearnedRouter(ctx());
    setW(r, [1, 0, 0, 0]);
    // top-3 positions: row 0 {1, 3, 4}, row 1 {0, 2, 4}. argsort of either set is [0, 1, 2],
    // which would gather the first three tokens.
    const x = firstFeature([[0.1, 5, 0.2, 4, 3], [3, 0.1, 4, 0.2, 5]]);
    await expectNoLeaks(() => {
      const out = r.route(x, 3);
      expect(rowsOf(out.positions, out.scores.shape[0])).toEqual([[1, 3, 4], [0, 2, 4]]);
      tf.dispose([out.scores, ...Object.values(out.auxLosses)]);
    });
    tf.dispose(x);
    r.dispose();
  });

  it("d loss / d w through route().scores and aux_bce matches finite differences", async () => {
    const r = new LearnedRouter(ctx({ predictor: null, auxLoss: { weight: 0.7 } }));
    const w = r.weights().get("w")!;
    const x = tf.randomNormal([2, 6, 4], 0, 1, "float32", 21) as tf.Tensor3D;
    const g = tf.randomNormal([2, 6], 0, 1, "float32", 22);
    // The top-k targets of aux_bce are piecewise constant in w; eps is far below the gaps
    // between scores of this seeded x, so no selection flips inside the difference.
    const loss = () =>
      tf.tidy(() => {
        const out = r.route(x, 2);
        return tf.add(tf.sum(tf.mul(out.scores, g)), out.auxLosses.aux_bce!) as tf.Scalar;
      });
    await expectNoLeaks(() => {
      expect(variableGradCheck(loss, w, { eps: 1e-2 })).toBeLessThan(2e-3); // every entry of w [4, 1]
    });
    tf.dispose([x, g]);
    r.dispose();
  });

  it("names and shapes its weights as the checkpoint and flops-accounting expect", () => {
    const r = new LearnedRouter(ctx({ dModel: 6, predictor: { hidden: 3, weight: 1 } }));
    const shapes = Object.fromEntries([...r.weights()].map(([k, v]) => [k, v.shape]));
    expect(shapes).toEqual({ w: [6, 1], "predictor.w1": [6, 3], "predictor.b1": [3], "predictor.w2": [3, 1], "predictor.b2": [1] });
    r.dispose();
    const bare = new LearnedRouter(ctx({ predictor: null }));
    expect([...bare.weights().keys()]).toEqual(["w"]);
    bare.dispose();
  });

  it("construction and dispose leave no tensors behind", async () => {
    await expectNoLeaks(() => {
      new LearnedRouter(ctx()).dispose();
      new LearnedRouter(ctx({ predictor: null, auxLoss: null })).dispose();
      new StochasticRouter(ctx({ capacity: 0.25 })).dispose();
    });
  });

  it("everything route() and routeCausal() return is freed by the caller's tidy", async () => {
    const r = new LearnedRouter(ctx());
    const x = tf.randomNormal([2, 5, 4], 0, 1, "float32", 8) as tf.Tensor3D;
    await expectNoLeaks(() => {
      tf.tidy(() => {
        const out = r.route(x, 2);
        expect(Object.keys(out.auxLosses).sort()).toEqual(["aux_bce", "predictor_bce"]);
        r.routeCausal(x, "threshold");
        r.routeCausal(x, "predictor");
      });
    });
    tf.dispose(x);
    r.dispose();
  });

  it("bad calls throw without leaking", async () => {
    const r = new LearnedRouter(ctx({ predictor: null }));
    const x = tf.zeros([1, 4, 4]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      expect(() => r.route(x, 0)).toThrow(/k: must be an integer in \[1, 4\] \(got 0\)/);
      expect(() => r.route(x, 5)).toThrow(/got 5/);
      expect(() => r.routeCausal(x, "predictor")).toThrow(/needs routing\.predictor/);
      expect(() => r.routeCausal(x, "sometimes" as never)).toThrow(/unknown mode "sometimes"/);
      const wide = tf.zeros([1, 4, 5]) as tf.Tensor3D;
      expect(() => r.route(wide, 2)).toThrow(/router \(layer 1\): x must be \[B, S, 4\] \(got \[1, 4, 5\]\)/);
      expect(() => r.routeCausal(wide, "threshold")).toThrow(/x must be \[B, S, 4\]/);
      wide.dispose();
    });
    tf.dispose(x);
    r.dispose();
  });
});
