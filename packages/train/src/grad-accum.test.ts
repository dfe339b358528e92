// Gradient accumulation: the mean of two half-batch gradients equals the full batch's
// gradient (dense model: the loss is a mean over tokens), within float32 tolerance.
import * as tf from "@tensorflow/tfjs";
import { createTransformer } from "@mixdepth/transformer";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { GradientAccumulator } from "./grad-accum.js";
import { trainableWeights, valueAndGrads } from "./grads.js";

describe("GradientAccumulator", () => {
  it("averages micro-batches into the gradient of the whole batch, without leaks", async () => {
    const model = createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8 }, { seed: 3 });
    const params = trainableWeights(model);
    const rows = [
      [1, 5, 2, 9, 4],
      [7, 3, 3, 0, 11],
    ];
    await expectNoLeaks(() => {
      const gradsOf = (r: number[][]) => {
        const x = tf.tensor2d(r.map((s) => s.slice(0, 4)), [r.length, 4], "int32");
        const y = tf.tensor2d(r.map((s) => s.slice(1)), [r.length, 4], "int32");
        const { value, grads } = valueAndGrads(() => model.loss(x, y).total, params);
        tf.dispose([x, y, value]);
        return grads;
      };
      const full = gradsOf(rows);
      const acc = new GradientAccumulator();
      for (const r of rows) {
        const g = gradsOf([r]);
        acc.add(g);
        tf.dispose([...g.values()]); // add() copies
      }
      expect(acc.count).toBe(2);
      const mean = acc.mean();
      expect(acc.count).toBe(0);
      let maxDiff = 0;
      let maxAbs = 0;
      for (const [k, g] of full) {
        const a = g.dataSync();
        const b = mean.get(k)!.dataSync();
        for (let i = 0; i < a.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
          maxAbs = Math.max(maxAbs, Math.abs(a[i] as number));
        }
      }
      expect(maxAbs).toBeGreaterThan(1e-3); // not vacuous: the gradients are not all zero
      expect(maxDiff).toBeLessThan(1e-5);
      tf.dispose([...full.values(), ...mean.values()]);
      expect(() => acc.mean()).toThrow(/mean\(\) before any add\(\)/);
      const partial = new GradientAccumulator();
      const first = new Map([["a", tf.scalar(1)]]);
      const wrong = new Map([["b", tf.scalar(2)]]);
      partial.add(first);
      expect(() => partial.add(wrong)).toThrow(/gradient "b" was not in the first micro-batch/);
      tf.dispose([...first.values(), ...wrong.values()]);
      partial.dispose();
    });
    model.dispose();
  });
});
