import * as tf from "@tensorflow/tfjs-core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { LearnedRouter } from "./learned-router.js";
import { StochasticRouter } from "./stochastic-router.js";
import { createRouter, listRouters, registerBuiltinRouters, registerRouter, unregisterRouter } from "./registry.js";
import { routingAgreement } from "./agreement.js";
import { topkPositions } from "./topk.js";
import type { RouterContext } from "./router.js";

/** Row-major host array -> rows. */
function rowsOf(a: ArrayLike<number>, rows: number): number[][] {
  const n = a.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(a).slice(r * n, (r + 1) * n));
}

const ctx = (over: Partial<RouterContext> = {}): RouterContext => ({
  dModel: 4, layerIndex: 1, auxLoss: { weight: 0.5 }, predictor: { hidden: 3, weight: 2 }, options: {}, seed: 7, ...over,
});

describe("topkPositions", () => {
  it("takes exactly k per row, sorted by position, ties to the earlier position", () => {
    // row 0: all tied -> first k; row 1: 9 at pos 5, then ties at 1 and 3
    const s = [1, 1, 1, 1, 1, 1, 0, 5, 0, 5, 0, 9];
    expect(Array.from(topkPositions(s, 2, 6, 3))).toEqual([0, 1, 2, 1, 3, 5]);
  });

  it("sorts the chosen indices themselves, not their argsort", () => {
    // top-3 of [0.1, 5, 0.2, 4, 3] is positions {1, 3, 4}; argsort of [1, 3, 4] would be [0, 1, 2]
    expect(Array.from(topkPositions([0.1, 5, 0.2, 4, 3], 1, 5, 3))).toEqual([1, 3, 4]);
  });

  it("rejects k out of range", () => {
    expect(() => topkPositions([1, 2], 1, 2, 3)).toThrow(/k: must be an integer in \[1, 2\] \(got 3\)/);
  });
});

describe("registry", () => {
  afterEach(() => unregisterRouter("test-kind"));
  it("registers built-ins only on request, through the public registry", () => {
    registerBuiltinRouters();
    registerBuiltinRouters(); // idempotent
    expect(listRouters()).toEqual(expect.arrayContaining(["learned", "stochastic"]));
  });
  it("rejects duplicates and unknown kinds with a clear message", () => {
    registerBuiltinRouters();
    expect(() => registerRouter("learned", () => { throw new Error("x"); })).toThrow(/already registered/);
    expect(() => createRouter("nope", ctx())).toThrow(/routing\.router: unknown router kind; registered: .*learned.*\(got "nope"\)/);
  });
});

describe.each(testBackends())("learned router on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("routes exactly k per row in position order, scores carry shape [B,S]", async () => {
    const r = new LearnedRouter(ctx());
    const x = tf.randomNormal([3, 8, 4], 0, 1, "float32", 1) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const out = r.route(x, 3);
      expect(out.scores.shape).toEqual([3, 8]);
      expect(out.positions).toBeInstanceOf(Int32Array);
      expect(out.positions).toHaveLength(3 * 3);
      expect(Array.from(out.hostScores)).toEqual(Array.from(out.scores.dataSync()));
      const idx = rowsOf(out.positions, out.scores.shape[0]);
      const sc = out.scores.arraySync() as number[][];
      idx.forEach((row, b) => {
        expect([...row].sort((p, q) => p - q)).toEqual(row);
        const kth = [...sc[b]!].sort((p, q) => q - p)[2]!;
        for (const i of row) expect(sc[b]![i]).toBeGreaterThanOrEqual(kth);
      });
      expect(Object.keys(out.auxLosses).sort()).toEqual(["aux_bce", "predictor_bce"]);
      tf.dispose([out.scores, ...Object.values(out.auxLosses)]);
    });
    x.dispose();
    r.dispose();
  });

  it("aux BCE uses per-row targets (no batch-offset bug)", async () => {
    const r = new LearnedRouter(ctx({ predictor: null, auxLoss: { weight: 1 } }));
    // w = [1,0,0,0]: score = x[...,0]. Row 0 routes position 0, row 1 routes position 2.
    r.weights().get("w")!.assign(tf.tensor2d([[1], [0], [0], [0]]));
    const x = tf.tensor3d([
      [[3, 0, 0, 0], [-1, 0, 0, 0], [-2, 0, 0, 0]],
      [[-1, 0, 0, 0], [-2, 0, 0, 0], [4, 0, 0, 0]],
    ]);
    await expectNoLeaks(() => {
      const out = r.route(x, 1);
      expect(rowsOf(out.positions, out.scores.shape[0])).toEqual([[0], [2]]);
      const sp = (z: number) => Math.log1p(Math.exp(z));
      // targets: row0 [1,0,0], row1 [0,0,1]; BCE = softplus(z) - z*t
      const expected = (sp(3) - 3 + sp(-1) + sp(-2) + sp(-1) + sp(-2) + sp(4) - 4) / 6;
      expect(out.auxLosses.aux_bce!.dataSync()[0]).toBeCloseTo(expected, 5);
      tf.dispose([out.scores, ...Object.values(out.auxLosses)]);
    });
    x.dispose();
    r.dispose();
  });

  it("gradient reaches w through the scores (finite differences)", async () => {
    const r = new LearnedRouter(ctx({ predictor: null, auxLoss: null }));
    const x = tf.randomNormal([2, 5, 4], 0, 1, "float32", 3) as tf.Tensor3D;
    const g = tf.randomNormal([2, 5], 0, 1, "float32", 4);
    const w = r.weights().get("w")!;
    await expectNoLeaks(() => {
      const f = (wv: tf.Tensor) =>
        tf.tidy(() => {
          w.assign(wv as tf.Tensor2D);
          return tf.sum(tf.mul(tf.reshape(tf.matMul(tf.reshape(x, [10, 4]), wv as tf.Tensor2D), [2, 5]), g)) as tf.Scalar;
        });
      const w0 = tf.clone(w);
      expect(gradCheck(f, [w0])).toBeLessThan(2e-2);
      // and the router's own scores equal x.w, so the gradient above is the router's
      const s = r.scores(x);
      w.assign(w0 as tf.Tensor2D);
      tf.dispose([w0, s]);
    });
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(r.scores(x), g)) as tf.Scalar, [w]);
      const expected = tf.tidy(() => tf.matMul(tf.reshape(x, [10, 4]), tf.reshape(g, [10, 1]), true, false));
      expect(maxAbsDiff(grads[w.name]!, expected)).toBeLessThan(1e-4);
      tf.dispose([value, expected, ...Object.values(grads)]);
    });
    tf.dispose([x, g]);
    r.dispose();
  });

  it("the predictor's loss reaches neither x nor w", async () => {
    const r = new LearnedRouter(ctx({ auxLoss: null }));
    const x = tf.variable(tf.randomNormal([2, 6, 4], 0, 1, "float32", 5), true);
    const w = r.weights().get("w")!;
    const w1 = r.weights().get("predictor.w1")!;
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => {
        const out = r.route(x as unknown as tf.Tensor3D, 2);
        const loss = out.auxLosses.predictor_bce!;
        tf.dispose([out.scores]);
        return loss;
      }, [x, w, w1]);
      const maxAbs = (t: tf.Tensor | undefined) => (t ? Math.max(...Array.from(t.dataSync(), Math.abs)) : 0);
      expect(maxAbs(grads[x.name])).toBe(0);
      expect(maxAbs(grads[w.name])).toBe(0);
      expect(maxAbs(grads[w1.name])).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads)]);
    });
    x.dispose();
    r.dispose();
  });

  it("causal routing decides per token from its own input", async () => {
    const r = new LearnedRouter(ctx());
    const x = tf.randomNormal([1, 6, 4], 0, 1, "float32", 9) as tf.Tensor3D;
    await expectNoLeaks(() => {
      for (const mode of ["threshold", "predictor"] as const) {
        const a = r.routeCausal(x, mode);
        const x2 = tf.tidy(() => tf.concat([tf.slice(x, [0, 0, 0], [1, 3, 4]), tf.randomNormal([1, 3, 4], 0, 1, "float32", 10)], 1) as tf.Tensor3D);
        const b = r.routeCausal(x2, mode);
        const pa = Array.from(a.probability), pb = Array.from(b.probability);
        expect(pa.slice(0, 3)).toEqual(pb.slice(0, 3));
        const sel = a.selected;
        pa.forEach((p, i) => expect(Boolean(sel[i])).toBe(p > 0.5));
        tf.dispose([a.scores, b.scores, x2]);
      }
    });
    const noPred = new LearnedRouter(ctx({ predictor: null }));
    expect(() => noPred.routeCausal(x, "predictor")).toThrow(/needs routing\.predictor/);
    noPred.dispose();
    x.dispose();
    r.dispose();
  });
});

describe("routers agree across backends", () => {
  it("same scores, indices, aux losses and causal decisions on cpu and wasm", async () => {
    type Run = { s: Float32Array; i: Int32Array; aux: number[]; p: Float32Array; sel: Uint8Array };
    const results: Run[] = [];
    for (const b of testBackends()) {
      await useBackend(b);
      const r = new LearnedRouter(ctx());
      const x = tf.tensor3d(Array.from({ length: 2 * 7 * 4 }, (_, i) => Math.sin(i * 1.7)), [2, 7, 4]);
      await expectNoLeaks(() => {
        const out = r.route(x, 3);
        const causal = r.routeCausal(x, "predictor");
        results.push({
          s: out.scores.dataSync() as Float32Array,
          i: out.positions,
          aux: ["aux_bce", "predictor_bce"].map((k) => out.auxLosses[k]!.dataSync()[0] as number),
          p: causal.probability,
          sel: causal.selected,
        });
        tf.dispose([out.scores, ...Object.values(out.auxLosses), causal.scores]);
      });
      tf.dispose(x);
      r.dispose();
    }
    for (const r of results.slice(1)) {
      const first = results[0]!;
      expect(maxAbsDiff(r.s, first.s)).toBeLessThan(1e-5);
      expect(Array.from(r.i)).toEqual(Array.from(first.i));
      expect(maxAbsDiff(r.aux, first.aux)).toBeLessThan(1e-5);
      expect(maxAbsDiff(r.p, first.p)).toBeLessThan(1e-5);
      expect(Array.from(r.sel)).toEqual(Array.from(first.sel));
    }
  });
});

describe("stochastic router", () => {
  it("picks exactly k random positions per row, r = 1, reproducible by seed", async () => {
    const a = new StochasticRouter(ctx({ capacity: 0.5 }));
    const b = new StochasticRouter(ctx({ capacity: 0.5 }));
    const x = tf.zeros([2, 8, 4]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const oa = a.route(x, 2), ob = b.route(x, 2), oa2 = a.route(x, 2);
      expect(rowsOf(oa.positions, oa.scores.shape[0])).toEqual(rowsOf(ob.positions, ob.scores.shape[0]));
      expect(rowsOf(oa.positions, oa.scores.shape[0])).not.toEqual(rowsOf(oa2.positions, oa2.scores.shape[0])); // fresh per call
      expect(Array.from(oa.scores.dataSync())).toEqual(new Array(16).fill(1));
      tf.dispose([oa, ob, oa2].flatMap((o) => [o.scores]));
    });
    x.dispose();
  });
});

describe("routingAgreement", () => {
  it("counts against the top-k target per row", () => {
    // B=2,S=3,k=1: top-k rows pick 0 and 2; causal picks [1,1,0] and [0,0,0]
    const r = routingAgreement([1, 1, 0, 0, 0, 0], [0, 2], 2, 3);
    expect(r).toMatchObject({ tp: 1, fp: 1, fn: 1, tn: 3, accuracy: 4 / 6, precision: 0.5, recall: 0.5 });
  });
});
