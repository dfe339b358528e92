// Causal-vs-top-k agreement (docs/method.md section 3) on every test backend.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { measureCausalRouting, routingAgreement } from "./agreement.js";
import { LearnedRouter } from "./learned-router.js";

describe("routingAgreement", () => {
  it("reports realized and nominal routed fractions", () => {
    // B=2, S=4, k=1: top-k picks 3 and 0; causal routes [0,1,1,1] and [1,0,0,0]
    const r = routingAgreement([0, 1, 1, 1, 1, 0, 0, 0], [3, 0], 2, 4);
    expect(r).toMatchObject({ tp: 2, fp: 2, fn: 0, tn: 4, recall: 1, precision: 0.5, routedFraction: 0.5, targetFraction: 0.25 });
  });

  it("rejects positions outside the row instead of marking the next row", () => {
    expect(() => routingAgreement([0, 0, 0, 0], [2, 0], 2, 2)).toThrow(/topk\[0\]\[0\] = 2 is not a position in \[0, 2\)/);
  });
});

describe.each(testBackends())("measureCausalRouting on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("compares threshold and predictor decisions with top-k, leaving no tensors", async () => {
    const r = new LearnedRouter({ dModel: 2, layerIndex: 0, auxLoss: { weight: 1 }, predictor: { hidden: 2, weight: 1 }, options: {}, seed: 1 });
    tf.tidy(() => r.weights().get("w")!.assign(tf.tensor2d([[1], [0]])));
    // scores = first feature; positive exactly at the top-2 of each row
    const x = tf.tensor3d([
      [[2, 0], [-1, 0], [3, 0], [-2, 0]],
      [[-1, 0], [1, 0], [-3, 0], [0.5, 0]],
    ]);
    await expectNoLeaks(() => {
      const t = measureCausalRouting(r, x, 2, "threshold");
      expect(t).toMatchObject({ tp: 4, fp: 0, fn: 0, tn: 4, accuracy: 1, routedFraction: 0.5, targetFraction: 0.5 });
      const p = measureCausalRouting(r, x, 2, "predictor");
      expect(p.tp + p.fp + p.fn + p.tn).toBe(8);
      expect(p.targetFraction).toBe(0.5);
    });
    x.dispose();
    r.dispose();
  });
});
