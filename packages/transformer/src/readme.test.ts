// The README's example, verbatim in substance, so it keeps working.
import * as tf from "@tensorflow/tfjs";
import { expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { createTransformer } from "./index.js";

it("README example runs without leaks", async () => {
  await expectNoLeaks(() => {
    const model = createTransformer(
      { vocabSize: 256, dModel: 64, nHeads: 4, nLayers: 4, contextLength: 64, routing: { blocks: "every-other", capacity: 0.125 } },
      { seed: 1 },
    );
    const x = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
    const y = tf.tensor2d([[2, 3, 4, 5]], [1, 4], "int32");
    const { logits, auxLosses, traces } = model.forward(x, { trace: true });
    expect(logits.shape).toEqual([1, 4, 256]);
    expect(traces.map((t) => t.layer)).toEqual([1, 3]);
    const { value, grads } = tf.variableGrads(() => model.loss(x, y).total, model.trainableVariables());
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    const cache = model.createCache();
    const first = model.forward(x, { routing: "causal", cache, logits: "last" });
    const step = tf.tensor2d([[7]], [1, 1], "int32");
    const next = model.forward(step, { routing: "causal", cache, logits: "last" });
    expect(first.logits.shape).toEqual([1, 1, 256]);
    expect(next.logits.shape).toEqual([1, 1, 256]);
    expect(cache.position).toBe(5);
    cache.dispose();
    tf.dispose([x, y, step, logits, value, first.logits, next.logits, ...Object.values(auxLosses), ...Object.values(grads)]);
    model.dispose();
  });
});
