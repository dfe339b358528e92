// Clipping by global norm against a 3-4-5 triangle.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { clipByGlobalNorm } from "./clip.js";

describe.each(testBackends())("clipByGlobalNorm on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("scales by maxNorm / norm over all gradients together, and leaves small ones alone", async () => {
    await expectNoLeaks(() => {
      const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3])], ["b", tf.tensor2d([[4]])]]);
      const c = clipByGlobalNorm(grads, 1);
      expect(c.norm).toBeCloseTo(5, 6);
      expect(c.grads.get("a")!.dataSync()[0]).toBeCloseTo(0.6, 5);
      expect(c.grads.get("b")!.dataSync()[0]).toBeCloseTo(0.8, 5);
      const big = clipByGlobalNorm(grads, 10);
      expect(big.grads.get("a")!.dataSync()[0]).toBe(3);
      tf.dispose([...grads.values(), ...c.grads.values(), ...big.grads.values()]);
    });
  });
});
