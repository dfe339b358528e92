// The helpers other suites rely on must be able to fail: a wrong custom gradient is caught,
// a leaked tensor is caught, and both backends load.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, maxAbsDiff, testBackends, useBackend } from "./tf.js";

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
    });
    x.dispose();
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
