import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, gradCheck, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { embeddingLookup } from "./embedding.js";
import { crossEntropy } from "./loss.js";

describe.each(testBackends())("embedding and loss on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("lookup gradient sums repeated ids", async () => {
    await expectNoLeaks(() => {
      const table = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const ids = tf.tensor1d([2, 0, 2], "int32");
      const w = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, ids), w)))(table);
      expect(Array.from(g.dataSync())).toEqual([3, 4, 0, 0, 6, 8]);
      tf.dispose([table, ids, w, g]);
    });
  });

  it("lookup and cross-entropy match finite differences", async () => {
    await expectNoLeaks(() => {
      const table = tf.randomNormal([5, 3], 0, 1, "float32", 1);
      const head = tf.randomNormal([3, 5], 0, 1, "float32", 2);
      const ids = tf.tensor1d([4, 1, 1, 0, 3, 4], "int32");
      const targets = tf.tensor2d([1, 2, 0, 4, 4, 3], [2, 3], "int32");
      const err = gradCheck(
        (t, h) => crossEntropy(tf.reshape(tf.matMul(embeddingLookup(t as tf.Tensor2D, ids), h as tf.Tensor2D), [2, 3, 5]) as tf.Tensor3D, targets),
        [table, head],
      );
      expect(err).toBeLessThan(1e-2);
      tf.dispose([table, head, ids, targets]);
    });
  });

  it("cross-entropy of uniform logits is ln V", async () => {
    await expectNoLeaks(() => {
      const logits = tf.zeros([2, 3, 7]) as tf.Tensor3D;
      const t = tf.tensor2d([0, 1, 2, 3, 4, 5], [2, 3], "int32");
      const l = crossEntropy(logits, t);
      expect(Math.abs((l.dataSync()[0] as number) - Math.log(7))).toBeLessThan(1e-6);
      tf.dispose([logits, t, l]);
    });
  });
});
