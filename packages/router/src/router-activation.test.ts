// The learned router's activation option (Mixture-of-Recursions' sigmoid / tanh router with a
// scale alpha; p-MoD's tanh gate): what multiplies the branch changes, the choice does not
// (top-k, aux BCE and the threshold use the logit), and the gradient reaches w through it.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "@mixdepth/core";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend, variableGradCheck } from "@mixdepth/vitest-config/tf";
import { LearnedRouter, validateLearnedOptions } from "./learned-router.js";
import type { RouterContext } from "./router.js";

const ctx = (options: Record<string, unknown>): RouterContext => ({
  dModel: 4, layerIndex: 1, auxLoss: { weight: 0.5 }, predictor: { hidden: 3, weight: 2 }, options, seed: 11,
});

describe("learned router options", () => {
  it.each<[Record<string, unknown>, string, unknown]>([
    [{ activation: "relu" }, "routing.routerOptions.activation", "relu"],
    [{ activation: "tanh", alpha: 0 }, "routing.routerOptions.alpha", 0],
    [{ activation: "sigmoid", alpha: "2" }, "routing.routerOptions.alpha", "2"],
    [{ alpha: 2 }, "routing.routerOptions.alpha", 2],
    [{ activatoin: "tanh" }, "routing.routerOptions.activatoin", "tanh"],
  ])("%j is refused, naming the field", (options, field, value) => {
    try {
      validateLearnedOptions(options);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect([(e as ConfigError).field, (e as ConfigError).value]).toEqual([field, value]);
    }
  });
});

describe.each(testBackends())("router activation on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it.each([
    ["sigmoid", 2, (z: number) => 2 / (1 + Math.exp(-z))],
    ["tanh", 0.5, (z: number) => 0.5 * Math.tanh(z)],
  ] as const)("%s (alpha %d): same choice and losses as the plain logit, gate = alpha * f(z), gradient to w", async (activation, alpha, f) => {
    const plain = new LearnedRouter(ctx({}));
    const act = new LearnedRouter(ctx({ activation, alpha })); // same seed: same weights
    const x = tf.randomNormal([2, 6, 4], 0, 1, "float32", 3) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const a = plain.route(x, 2);
      const b = act.route(x, 2);
      expect(Array.from(b.positions)).toEqual(Array.from(a.positions));
      expect(b.auxLosses.aux_bce!.dataSync()[0]).toBe(a.auxLosses.aux_bce!.dataSync()[0]);
      const want = Float32Array.from(a.hostScores, f);
      expect(maxAbsDiff(b.scores, want)).toBeLessThan(1e-6);
      expect(maxAbsDiff(b.hostScores, want)).toBeLessThan(1e-6);
      const ca = plain.routeCausal(x, "threshold");
      const cb = act.routeCausal(x, "threshold");
      expect(Array.from(cb.selected)).toEqual(Array.from(ca.selected));
      expect(maxAbsDiff(cb.scores, Float32Array.from(ca.hostScores, f))).toBeLessThan(1e-6);
      tf.dispose([a.scores, b.scores, ca.scores, cb.scores, ...Object.values(a.auxLosses), ...Object.values(b.auxLosses)]);
      const g = tf.randomNormal([2, 6], 0, 1, "float32", 4);
      const loss = () => tf.tidy(() => {
        const r = act.route(x, 2);
        return tf.addN([tf.sum(tf.mul(r.scores, g)), ...Object.values(r.auxLosses)]) as tf.Scalar;
      });
      expect(variableGradCheck(loss, act.weights().get("w")!, { eps: 1e-2 })).toBeLessThan(1e-2);
      g.dispose();
    });
    x.dispose();
    plain.dispose();
    act.dispose();
  });
});
