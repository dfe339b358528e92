import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { fastMatMul } from "./fast-matmul.js";

describe.each(testBackends())("fastMatMul on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])("transposeA=%s transposeB=%s: value and gradients match tf.matMul", async (ta, tb) => {
    await expectNoLeaks(() => {
      const a = tf.randomNormal(ta ? [4, 3] : [3, 4], 0, 1, "float32", 1) as tf.Tensor2D;
      const b = tf.randomNormal(tb ? [5, 4] : [4, 5], 0, 1, "float32", 2) as tf.Tensor2D;
      const w = tf.randomNormal([3, 5], 0, 1, "float32", 3);
      const ref = tf.matMul(a, b, ta, tb);
      const got = fastMatMul(a, b, ta, tb);
      expect(maxAbsDiff(ref, got)).toBeLessThan(1e-5);
      const g1 = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w)))([a, b]);
      const g2 = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(fastMatMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), w)))([a, b]);
      expect(maxAbsDiff(g1[0] as tf.Tensor, g2[0] as tf.Tensor)).toBeLessThan(1e-5);
      expect(maxAbsDiff(g1[1] as tf.Tensor, g2[1] as tf.Tensor)).toBeLessThan(1e-5);
      const err = gradCheck((x, y) => tf.sum(tf.mul(fastMatMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), w)), [a, b]);
      expect(err).toBeLessThan(1e-2);
      tf.dispose([a, b, w, ref, got, ...g1, ...g2]);
    });
  });
});
