// BCE with logits: matches the closed form, stays finite for large logits, and has the
// gradient sigmoid(z) - t (mean), on every test backend.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { bceWithLogits } from "./bce.js";

describe.each(testBackends())("bceWithLogits on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("matches -t log s(z) - (1-t) log(1-s(z)) and is finite for |z| = 80", async () => {
    await expectNoLeaks(() => {
      const z = [0.3, -1.2, 2.5, 0];
      const t = [1, 0, 0, 1];
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      const expected = z.reduce((acc, v, i) => acc - (t[i]! * Math.log(sig(v)) + (1 - t[i]!) * Math.log(1 - sig(v))), 0) / z.length;
      const got = tf.tidy(() => bceWithLogits(tf.tensor1d(z), tf.tensor1d(t)).dataSync()[0]!);
      expect(got).toBeCloseTo(expected, 5);
      const big = tf.tidy(() => bceWithLogits(tf.tensor1d([80, -80, 80, -80]), tf.tensor1d([1, 0, 0, 1])).dataSync()[0]!);
      expect(big).toBeCloseTo(80 / 2, 3); // two confident right (~0), two confident wrong (80 each)
    });
  });

  it("gradient matches finite differences", async () => {
    await expectNoLeaks(() => {
      const z = tf.tensor2d([[0.3, -1.2, 2.5], [0.1, -0.4, 1.1]]);
      const t = tf.tensor2d([[1, 0, 0], [0, 1, 1]]);
      expect(gradCheck((v) => bceWithLogits(v, t), [z])).toBeLessThan(2e-2);
      tf.dispose([z, t]);
    });
  });
});
