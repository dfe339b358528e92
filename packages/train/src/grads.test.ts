// Gradients by weight name: hand-derived values, a zero gradient for an unreached weight, and
// the model's weight names as keys.
import * as tf from "@tensorflow/tfjs";
import { createTransformer } from "@mixdepth/transformer";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { trainableWeights, valueAndGrads } from "./grads.js";

describe("valueAndGrads", () => {
  it("keys gradients by weight name: d/da sum(a^2) + 3b = [2a, 3], unreached weight 0", async () => {
    const params = new Map<string, tf.Variable>([
      ["a", tf.variable(tf.tensor1d([1, -2]))],
      ["b", tf.variable(tf.scalar(5))],
      ["unused", tf.variable(tf.tensor1d([7]))],
    ]);
    await expectNoLeaks(() => {
      const { value, grads } = valueAndGrads(() => tf.add(tf.sum(tf.square(params.get("a")!)), tf.mul(params.get("b")!, 3)) as tf.Scalar, params);
      expect(value.dataSync()[0]).toBeCloseTo(20, 6); // 1 + 4 + 15
      expect([...grads.keys()]).toEqual(["a", "b", "unused"]);
      expect(Array.from(grads.get("a")!.dataSync())).toEqual([2, -4]);
      expect(grads.get("b")!.dataSync()[0]).toBe(3);
      expect(Array.from(grads.get("unused")!.dataSync())).toEqual([0]);
      tf.dispose([value, ...grads.values()]);
    });
    params.forEach((p) => p.dispose());
  });

  it("trainableWeights of a transformer gives its weight names, every one with a gradient", async () => {
    const model = createTransformer({ vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 2, contextLength: 8 }, { seed: 1 });
    const params = trainableWeights(model);
    expect(params.has("tok_emb")).toBe(true);
    await expectNoLeaks(() => {
      const x = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
      const y = tf.tensor2d([[2, 3, 4]], [1, 3], "int32");
      const { value, grads } = valueAndGrads(() => model.loss(x, y).total, params);
      expect([...grads.keys()]).toEqual([...params.keys()]);
      for (const [name, g] of grads) expect(g.shape, name).toEqual(params.get(name)!.shape);
      tf.dispose([x, y, value, ...grads.values()]);
    });
    model.dispose();
  });
});
