// The stochastic control (docs/method.md section 5) on every test backend: top-k over seeded
// Gaussian noise, r = 1, causal selection with probability = capacity.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { normalQuantile, StochasticRouter } from "./stochastic-router.js";
import type { RouterContext } from "./router.js";

/** Row-major host array -> rows. */
function rowsOf(a: ArrayLike<number>, rows: number): number[][] {
  const n = a.length / rows;
  return Array.from({ length: rows }, (_, r) => Array.from(a).slice(r * n, (r + 1) * n));
}

const ctx = (over: Partial<RouterContext> = {}): RouterContext => ({
  dModel: 4, layerIndex: 1, auxLoss: { weight: 0.01 }, predictor: { hidden: 2, weight: 1 }, options: {}, seed: 3, capacity: 0.25, ...over,
});

describe.each(testBackends())("stochastic router on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("routes exactly k sorted positions per row, ignores x, has no weights and no aux losses", async () => {
    const r = new StochasticRouter(ctx());
    const x = tf.randomNormal([3, 16, 4], 0, 1, "float32", 1) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const out = r.route(x, 4);
      const idx = rowsOf(out.positions, out.scores.shape[0]);
      for (const row of idx) {
        expect(row).toHaveLength(4);
        expect(new Set(row).size).toBe(4);
        expect([...row].sort((a, b) => a - b)).toEqual(row);
      }
      expect(out.auxLosses).toEqual({});
      expect(r.weights().size).toBe(0);
      tf.dispose([out.scores]);
    });
    tf.dispose(x);
  });

  it("causal routing: r = 1, probability = capacity, realized fraction near capacity, reproducible by seed", async () => {
    const a = new StochasticRouter(ctx());
    const b = new StochasticRouter(ctx());
    const x = tf.zeros([4, 256, 4]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const ca = a.routeCausal(x, "threshold");
      const cb = b.routeCausal(x, "predictor"); // the mode does not matter: no learned decision
      expect(ca.selected).toBeInstanceOf(Uint8Array);
      expect(Array.from(ca.selected)).toEqual(Array.from(cb.selected));
      const sel = ca.selected;
      const fraction = Array.from(sel, Number).reduce((n, v) => n + v, 0) / sel.length; // 1024 Bernoulli(0.25): sd 0.0135
      expect(Math.abs(fraction - 0.25)).toBeLessThan(0.05);
      expect(new Set(ca.scores.dataSync())).toEqual(new Set([1]));
      expect(new Set(ca.probability)).toEqual(new Set([Math.fround(0.25)]));
      expect(Array.from(ca.hostScores)).toEqual(Array.from(ca.scores.dataSync()));
      tf.dispose([ca.scores, cb.scores]);
    });
    tf.dispose(x);
  });

  it('scale "noise": the Gaussian scores that pick the top-k also scale the branch', async () => {
    const r = new StochasticRouter(ctx({ options: { scale: "noise" } }));
    const one = new StochasticRouter(ctx());
    const x = tf.zeros([2, 32, 4]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const out = r.route(x, 4);
      const ref = one.route(x, 4); // same seed, same draw: the selection does not depend on the reading
      const s = out.scores.arraySync();
      expect(Array.from(out.hostScores)).toEqual(s.flat()); // the host copy is the tensor's
      const idx = [0, 1].map((b) => Array.from(out.positions.subarray(b * 4, (b + 1) * 4)));
      expect(Array.from(out.positions)).toEqual(Array.from(ref.positions));
      expect(new Set(ref.scores.dataSync())).toEqual(new Set([1]));
      idx.forEach((row, b) => {
        const scores = s[b] as number[];
        const chosen = row.map((i) => scores[i] as number);
        const rest = scores.filter((_, i) => !row.includes(i));
        expect(Math.min(...chosen)).toBeGreaterThan(Math.max(...rest)); // the routed tokens are the top-k of r
      });
      expect(new Set(out.scores.dataSync()).size).toBe(64); // fresh noise, not ones
      tf.dispose([out.scores, ref.scores]);
    });
    tf.dispose(x);
  });

  it('scale "noise", causal: routed iff the score passes the (1 - capacity) quantile; fraction near capacity', async () => {
    const r = new StochasticRouter(ctx({ options: { scale: "noise" } }));
    const x = tf.zeros([4, 256, 4]) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const c = r.routeCausal(x, "threshold");
      const z = c.scores.dataSync();
      const sel = c.selected;
      expect(Array.from(c.hostScores)).toEqual(Array.from(z));
      const q = normalQuantile(0.75);
      let n = 0;
      z.forEach((v, i) => {
        expect(sel[i]).toBe(v > q ? 1 : 0);
        n += sel[i] as number;
      });
      expect(Math.abs(n / sel.length - 0.25)).toBeLessThan(0.05); // 1024 Bernoulli(0.25): sd 0.0135
      expect(new Set(c.probability)).toEqual(new Set([Math.fround(0.25)]));
      c.scores.dispose();
    });
    tf.dispose(x);
  });

  it("rejects a bad capacity and a bad k, naming the field", () => {
    expect(() => new StochasticRouter(ctx({ capacity: 0 }))).toThrow(/routing\.capacity: must be a number in \(0, 1\] \(got 0\)/);
    expect(() => new StochasticRouter(ctx({ capacity: 1.5 }))).toThrow(/got 1\.5/);
    const r = new StochasticRouter(ctx());
    const x = tf.zeros([1, 4, 4]) as tf.Tensor3D;
    expect(() => r.route(x, 5)).toThrow(/k: must be an integer in \[1, 4\] \(got 5\)/);
    tf.dispose(x);
  });
});

describe("stochastic router options", () => {
  it("normalQuantile matches tabulated standard normal quantiles", () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.875)).toBeCloseTo(1.1503494, 6);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.3263479, 6);
  });

  it("rejects a bad scale and any other key, naming the field and quoting the value", () => {
    expect(() => new StochasticRouter(ctx({ options: { scale: "gauss" } }))).toThrow(/routing\.routerOptions\.scale: must be "one" or "noise" \(got "gauss"\)/);
    expect(() => new StochasticRouter(ctx({ options: { scale: 1 } }))).toThrow(/\(got 1\)/);
    // The isoFLOP planner derives the control with routerOptions {}: a learned option here is a mistake.
    expect(() => new StochasticRouter(ctx({ options: { initStd: 1 } }))).toThrow("routing.routerOptions.initStd: unknown option of the stochastic router (known: scale) (got 1)");
    expect(new StochasticRouter(ctx({ options: { scale: "noise" } })).toJSON()).toEqual({ kind: "stochastic", options: { scale: "noise" } });
  });
});

describe("stochastic router state", () => {
  it("getState/setState continue the random stream exactly (what a resumed run needs)", () => {
    const a = new StochasticRouter(ctx());
    const x = tf.zeros([2, 8, 4]) as tf.Tensor3D;
    const draw = (r: StochasticRouter) => {
      const out = r.route(x, 2);
      const idx = rowsOf(out.positions, out.scores.shape[0]);
      tf.dispose([out.scores]);
      return idx;
    };
    draw(a);
    const saved = JSON.parse(JSON.stringify(a.getState())) as unknown;
    const next = [draw(a), draw(a)];
    const b = new StochasticRouter(ctx());
    expect(draw(b)).not.toEqual(next[0]); // a fresh router restarts the stream
    b.setState(saved);
    expect([draw(b), draw(b)]).toEqual(next);
    expect(() => b.setState({ rng: -1 })).toThrow(/rng state: must be an unsigned 32-bit integer \(got -1\)/);
    expect(() => b.setState(null)).toThrow(/stochastic router state: expected \{ rng: <uint32> \} \(got null\)/);
    x.dispose();
  });
});
