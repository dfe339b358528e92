// Same weights, same tokens: cpu and every other test backend (wasm; tensorflow when
// MIXDEPTH_TEST_BACKENDS names it) give the same logits (and loss gradients).
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend, type TestBackend } from "@mixdepth/vitest-config/tf";
import type { ModelConfig } from "@mixdepth/core";
import { createTransformer } from "./index.js";

const config = (family: "gpt2" | "llama"): ModelConfig => ({
  vocabSize: 17,
  dModel: 16,
  nHeads: 2,
  nLayers: 4,
  contextLength: 12,
  family,
  routing: { blocks: "every-other", capacity: 0.25 },
});

const others = testBackends().filter((b) => b !== "cpu");
describe.skipIf(!testBackends().includes("cpu") || others.length === 0).each(others)("cpu vs %s", (other) => {
  it.each(["gpt2", "llama"] as const)("%s: logits (topk and causal) and gradients agree within 1e-4", async (family) => {
    const tokens = Array.from({ length: 3 * 12 }, (_, i) => (i * 5 + 3) % 17);
    const run = async (backend: TestBackend, weights?: Map<string, Float32Array>) => {
      await useBackend(backend);
      return expectNoLeaks(() => {
        const model = createTransformer(config(family), { seed: 5 });
        if (weights) {
          const given = new Map([...model.getWeights()].map(([n, v]) => [n, tf.tensor(weights.get(n) as Float32Array, v.shape)]));
          model.setWeights(given);
          tf.dispose([...given.values()]);
        } else {
          // Scale up so differences are not hidden by tiny weights.
          for (const v of model.trainableVariables()) if (v.shape.length === 2) tf.tidy(() => v.assign(tf.mul(v, 8)));
        }
        const x = tf.tensor2d(tokens, [3, 12], "int32");
        const y = tf.tensor2d(tokens.map((t) => (t + 1) % 17), [3, 12], "int32");
        const topk = model.forward(x, { trace: true });
        const causal = model.forward(x, { routing: "causal" });
        const { value, grads } = tf.variableGrads(() => model.loss(x, y).total, model.trainableVariables());
        const w = model.getWeights();
        const result = {
          weights: new Map([...w].map(([n, v]) => [n, v.dataSync().slice() as Float32Array])),
          topk: topk.logits.dataSync().slice(),
          causal: causal.logits.dataSync().slice(),
          loss: value.dataSync()[0] as number,
          grads: new Map([...w].map(([n, v]) => [n, (grads[v.name] as tf.Tensor).dataSync().slice()])),
          traces: JSON.stringify(topk.traces.map((t) => t.processed)),
        };
        tf.dispose([x, y, topk.logits, causal.logits, value, ...Object.values(grads), ...Object.values(topk.auxLosses)]);
        model.dispose();
        return result;
      });
    };
    const cpu = await run("cpu");
    const got = await run(other, cpu.weights);
    expect(tf.getBackend()).toBe(other);
    expect(got.traces).toBe(cpu.traces);
    expect(maxAbsDiff(cpu.topk, got.topk)).toBeLessThan(1e-4);
    expect(maxAbsDiff(cpu.causal, got.causal)).toBeLessThan(1e-4);
    expect(Math.abs(cpu.loss - got.loss)).toBeLessThan(1e-4);
    for (const [n, g] of cpu.grads) expect(maxAbsDiff(g, got.grads.get(n) as Float32Array), n).toBeLessThan(1e-4);
    await useBackend("cpu");
  });
});
