// stopGradient: identity forward, no gradient through it, on every test backend.
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { stopGradient } from "./stop-gradient.js";

describe.each(testBackends())("stopGradient on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("passes values and blocks only its own path", async () => {
    const x = tf.tensor2d([[1, -2], [3, 0.5]]);
    await expectNoLeaks(() => {
      tf.tidy(() => {
        expect(maxAbsDiff(stopGradient(x), x)).toBe(0);
        // d/dx sum(stop(x) * x) = stop(x) = x: only the direct factor carries gradient
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x);
        expect(maxAbsDiff(g, x)).toBe(0);
        const zero = tf.grad((v: tf.Tensor) => tf.sum(tf.square(stopGradient(v))))(x);
        expect(maxAbsDiff(zero, tf.zerosLike(x))).toBe(0);
      });
    });
    x.dispose();
  });
});
