// The helpers other suites rely on must be able to fail: a wrong custom gradient is caught,
// a leaked tensor is caught, and both backends load.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, maxAbsDiff, relativeError, testBackends, useBackend, variableGradCheck } from "./tf.js";

describe.each(testBackends())("helpers on %s", (backend) => {
  it("activates the backend", async () => {
    await useBackend(backend);
    expect(tf.getBackend()).toBe(backend);
  });

  it("gradCheck accepts a correct gradient and rejects a wrong one", async () => {
    await useBackend(backend);
    const x = tf.tensor1d([0.3, -1.2, 2.0, 0.7]);
    const good = (a: tf.Tensor) => tf.sum(tf.mul(a, a)) as tf.Scalar;
    // Deliberately wrong: d(sum a^2)/da is 2a, this says 3a.
    const bad = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
      save([a]);
      return { value: tf.sum(tf.mul(a, a)) as tf.Scalar, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(3, saved[0]!)) };
    }) as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor) => tf.Scalar;
    await expectNoLeaks(() => {
      expect(gradCheck(good, [x])).toBeLessThan(1e-2);
      expect(gradCheck(bad, [x])).toBeGreaterThan(0.1);
      // Both gradients 0 (the function ignores its input): nothing compared, NaN, so an
      // expectation of a small error fails instead of passing on 0.
      expect(gradCheck((a) => tf.mul(tf.sum(a), 0) as tf.Scalar, [x])).toBeNaN();
    });
    x.dispose();
  });

  it("relativeError: 0 only for equal non-zero gradients, NaN when both are about 0", () => {
    expect(relativeError([1, 2], [1, 2])).toBe(0);
    expect(relativeError([1, 0], [0, 1])).toBeCloseTo(Math.SQRT2 / 2, 12);
    expect(relativeError([0, 0], [0, 0])).toBeNaN();
    expect(relativeError([1e-14], [-1e-14])).toBeNaN();
    expect(relativeError([], [])).toBeNaN();
  });

  it("variableGradCheck accepts a correct gradient, rejects a wrong one, skips coordinates whose key flips", async () => {
    await useBackend(backend);
    const v = tf.variable(tf.tensor1d([0.3, -0.7, 1.2, 0.004]));
    await expectNoLeaks(() => {
      expect(variableGradCheck(() => tf.sum(tf.square(v)) as tf.Scalar, v)).toBeLessThan(1e-3);
      // A custom gradient that is off by a factor 2.
      const wrong = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
        save([x]);
        return { value: tf.sum(tf.square(x)) as tf.Scalar, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(4, saved[0]!)) };
      }) as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor) => tf.Scalar;
      expect(variableGradCheck(() => wrong(v), v)).toBeGreaterThan(0.1);
      // Piecewise: the key (sign of each entry) flips only at the entry near 0 (0.004 +- 0.01).
      const piecewise = () => ({ value: tf.sum(tf.mul(v, tf.sign(v))) as tf.Scalar, key: String(Array.from(v.dataSync(), Math.sign)) });
      expect(variableGradCheck(piecewise, v, { coords: "largest", maxCoords: 3 })).toBeLessThan(1e-3);
      expect(variableGradCheck(piecewise, v)).toBeLessThan(1e-3);
      // Every checked coordinate flips: NaN, so an expectation of a small error fails.
      const alwaysFlips = () => ({ value: tf.sum(v) as tf.Scalar, key: String(Math.random()) });
      expect(variableGradCheck(alwaysFlips, v)).toBeNaN();
    });
    v.dispose();
  });

  it("expectNoLeaks fails when a tensor is left behind", async () => {
    await useBackend(backend);
    let leaked: tf.Tensor | undefined;
    await expect(
      expectNoLeaks(() => {
        leaked = tf.ones([2]);
      }),
    ).rejects.toThrow(/leaked 1 tensors/);
    leaked?.dispose();
  });

  it("maxAbsDiff measures the largest difference", () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBeCloseTo(1);
  });
});
