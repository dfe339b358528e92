// Evaluation: the top-k loss is the mean of the model's own lm loss over the batches, bits per
// byte is nats / ln 2 / bytesPerToken, a dense model has no causal result and no routing rows,
// a routed one reports its causal loss and one agreement row per routed block; no leaks.
import * as tf from "@tensorflow/tfjs";
import { createTransformer } from "@mixdepth/transformer";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { batchTensors, evalBatches } from "./batcher.js";
import { evaluate } from "./evaluate.js";

const tokens = Int32Array.from({ length: 300 }, (_, i) => (i * 5 + (i % 3)) % 16);
const batches = evalBatches(tokens, 2, 8, 3);
const base = { vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 3, contextLength: 8 };

describe("evaluate", () => {
  it("dense: the mean lm loss over the batches, in nats and bits per byte; no causal result", async () => {
    const model = createTransformer(base, { seed: 1 });
    const r = await expectNoLeaks(() => evaluate(model, batches, 2, 8, 2));
    const byHand =
      batches
        .map((b) => {
          const { x, y } = batchTensors(b, 2, 8);
          const l = tf.tidy(() => model.loss(x, y).lm.dataSync()[0] as number);
          tf.dispose([x, y]);
          return l;
        })
        .reduce((a, b) => a + b, 0) / batches.length;
    expect(r.topk.loss).toBeCloseTo(byHand, 6);
    expect(r.topk.bpb).toBeCloseTo(byHand / Math.LN2 / 2, 6);
    expect(r.causal).toBeNull();
    expect(r.routing).toEqual([]);
    expect(r.tokens).toBe(3 * 2 * 8);
    model.dispose();
  });

  it("routed: a causal loss and one agreement row per routed block, at the nominal capacity", async () => {
    const model = createTransformer({ ...base, routing: { blocks: [1, 2], capacity: 0.5 } }, { seed: 1 });
    const r = await expectNoLeaks(() => evaluate(model, batches, 2, 8));
    expect(r.causal).not.toBeNull();
    expect(r.causal!.loss).toBeGreaterThan(0);
    expect(r.causal!.bpb).toBeCloseTo(r.causal!.loss / Math.LN2, 6);
    expect(r.routing.map((l) => l.layer)).toEqual([1, 2]);
    for (const l of r.routing) {
      expect(l.nominalFraction).toBe(0.5);
      for (const v of [l.accuracy, l.causalFraction]) expect(v >= 0 && v <= 1).toBe(true);
    }
    model.dispose();
  });
});
