// Models with mixture-of-experts MLPs (MoE, integrated and staged MoDE; docs/method.md section 6)
// through the whole model: weight names and shapes from the config alone, a safetensors
// checkpoint round trip, cached decoding equal to the causal forward within 1e-4, parameter
// counts equal to the weights held, and forward FLOPs equal to the executed matmul kernels.
import * as tf from "@tensorflow/tfjs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { resolveModelConfig, type ModelConfig } from "@mixdepth/core";
import { registerBuiltinRouters, routerCost } from "@mixdepth/router";
import { forwardFlops, paramCounts } from "@mixdepth/flops-accounting";
import { createTransformer, kernelMatmulFlops, modelWeightShapes, type Transformer } from "./index.js";
import { loadModel, saveModel } from "./node.js";
import { redrawWeights } from "../test/helpers.js";

const V = 13;
const base = { vocabSize: V, dModel: 8, nHeads: 2, nLayers: 4, contextLength: 16 } as const;
const configs: [string, ModelConfig][] = [
  ["gpt2 MoE (4 experts, every block)", { ...base, family: "gpt2", experts: { count: 4 } }],
  ["gpt2 integrated MoDE (2 experts + 2 no-op, every other block)", { ...base, family: "gpt2", experts: { blocks: "every-other", count: 2, noop: 2, capacity: 0.25, hidden: 12 } }],
  ["llama MoE with reduced capacity", { ...base, family: "llama", experts: { count: 2, capacity: 0.25 } }],
  ["llama staged MoDE (MoD every other, experts on those blocks)", { ...base, family: "llama", routing: { blocks: "every-other", capacity: 0.5 }, experts: { blocks: "every-other", count: 2, capacity: 0.5 } }],
  ["llama token-choice MoE (2 experts + 1 no-op, capacity factor 1)", { ...base, family: "llama", experts: { blocks: [0, 3], routing: "token-choice", count: 2, noop: 1, capacity: 0.5 } }],
  ["llama integrated MoDE with the experts' causal predictor", { ...base, family: "llama", experts: { blocks: [2], count: 2, noop: 1, capacity: 0.375, predictor: { hidden: 3 } } }],
  ["gpt2 staged + integrated, untied", { ...base, family: "gpt2", tieEmbeddings: false, routing: { blocks: [1, 2], capacity: 0.5, predictor: null }, experts: { blocks: [0, 1], count: 3, noop: 1 } }],
];

const rowsTensor = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0]!.length], "int32");
function ids(n: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (a >>> 8) % V;
  });
}

describe("MoE / MoDE models: weights, parameters, checkpoints", () => {
  beforeAll(() => registerBuiltinRouters());

  it.each(configs)("%s: modelWeightShapes and paramCounts equal the model's weights", async (_name, config) => {
    await expectNoLeaks(() => {
      const model = createTransformer(config, { seed: 1 });
      expect([...modelWeightShapes(config).shapes]).toEqual([...model.weightShapes()]);
      const held = [...model.getWeights().values()].reduce((a, v) => a + v.size, 0);
      expect(paramCounts(config, { routerCost: routerCost(resolveModelConfig(config)) }).total).toBe(held);
      expect([...model.getWeights().keys()].some((n) => n.includes(".mlp.experts."))).toBe(true);
      model.dispose();
    });
  });

  it("a safetensors checkpoint round-trips an integrated-MoDE model exactly", async () => {
    const config = configs[1]![1];
    const dir = join(mkdtempSync(join(tmpdir(), "mixdepth-mode-")), "ck");
    const a = createTransformer(config, { seed: 5 });
    redrawWeights(a, 5);
    saveModel(dir, a);
    await expectNoLeaks(() => {
      const b = loadModel(dir);
      expect(b.config.experts).toEqual(a.config.experts);
      const x = rowsTensor([ids(16, 3)]);
      const ra = a.forward(x, { trace: true });
      const rb = b.forward(x, { trace: true });
      expect(maxAbsDiff(ra.logits, rb.logits)).toBe(0);
      expect(rb.expertTraces).toEqual(ra.expertTraces);
      expect(ra.expertTraces.map((t) => t.layer)).toEqual([1, 3]);
      tf.dispose([x, ra.logits, rb.logits, ...Object.values(ra.auxLosses), ...Object.values(rb.auxLosses)]);
      b.dispose();
    });
    a.dispose();
  });

  it("a KV cache with top-k routing is refused for an MoE model (expert choice sees the whole sequence)", () => {
    const m = createTransformer(configs[0]![1], { seed: 1 });
    const cache = m.createCache();
    const x = rowsTensor([[1, 2]]);
    expect(() => m.forward(x, { cache })).toThrow(/needs routing: "causal"/);
    x.dispose();
    cache.dispose();
    m.dispose();
  });
});

describe.each(testBackends())("MoE / MoDE cached decoding on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  function decode(m: Transformer, rows: number[][], promptLength: number) {
    const cache = m.createCache();
    const parts: tf.Tensor3D[] = [];
    for (let t = 0; t < rows[0]!.length; t = t === 0 ? promptLength : t + 1) {
      const n = t === 0 ? promptLength : 1;
      const x = rowsTensor(rows.map((r) => r.slice(t, t + n)));
      parts.push(m.forward(x, { routing: "causal", cache }).logits);
      x.dispose();
    }
    const logits = tf.concat(parts, 1);
    tf.dispose(parts);
    const stored = Array.from({ length: m.config.nLayers }, (_, layer) => rows.map((_, b) => cache.positions(layer, b)));
    cache.dispose();
    return { logits, stored };
  }

  it.each([configs[1]!, configs[3]!, configs[4]!, configs[5]!])("%s: prompt then one token per call equals the causal forward within 1e-4", async (_name, config) => {
    await expectNoLeaks(() => {
      const m = createTransformer(config, { seed: 3 });
      redrawWeights(m, 3);
      const rows = [ids(16, 7), ids(16, 8)];
      const x = rowsTensor(rows);
      const ref = m.forward(x, { routing: "causal", trace: true });
      // Not vacuous: the experts' causal rule took some tokens and left others.
      const taken = ref.expertTraces.flatMap((t) => t.processed.flat(2)).length;
      expect(taken).toBeGreaterThan(0);
      expect(taken).toBeLessThan(ref.expertTraces.length * ref.expertTraces[0]!.processed.length * 2 * 16);
      for (const batch of [[0], [0, 1]]) {
        for (const promptLength of [1, 5]) {
          const got = decode(m, batch.map((b) => rows[b]!), promptLength);
          const want = tf.tidy(() => tf.gather(ref.logits, batch, 0));
          expect(maxAbsDiff(got.logits, want), `rows ${batch}, prompt ${promptLength}`).toBeLessThan(1e-4);
          // The sparse KV cache: a routed block holds exactly the tokens it processed, a dense one (MoE MLP or not) every token.
          m.config.layers.forEach((l) =>
            batch.forEach((b, j) => {
              const trace = ref.traces.find((t) => t.layer === l.index);
              expect(got.stored[l.index]![j]).toEqual(l.routed ? trace!.processed[b] : Array.from({ length: 16 }, (_, i) => i));
            }),
          );
          tf.dispose([got.logits, want]);
        }
      }
      tf.dispose([x, ref.logits, ...Object.values(ref.auxLosses)]);
      m.dispose();
    });
  });
});

describe("MoE / MoDE kernel-trace matmul FLOPs on cpu", () => {
  beforeAll(() => {
    useBackend("cpu");
    registerBuiltinRouters();
  });

  it.each(configs)("%s: equals forwardFlops exactly (full and short sequences)", async (_name, config) => {
    const model = createTransformer(config, { seed: 1 });
    for (const [batch, seqLen] of [
      [2, 16],
      [1, 11],
    ] as const) {
      const x = tf.tensor2d(Array.from({ length: batch * seqLen }, (_, i) => (i * 7) % 13), [batch, seqLen], "int32");
      await expectNoLeaks(async () => {
        const profile = await tf.profile(() => {
          const out = model.forward(x, { trace: false });
          tf.dispose([out.logits, ...Object.values(out.auxLosses)]);
        });
        const executed = kernelMatmulFlops(profile.kernels);
        const expected = forwardFlops(config, { seqLen, routerCost: routerCost(resolveModelConfig(config)) });
        expect(executed.total).toBe(batch * expected.total);
        // The experts' share is what the accounting says: without it the totals differ.
        const dense = forwardFlops({ ...config, experts: undefined } as ModelConfig, { seqLen, routerCost: routerCost(resolveModelConfig(config)) });
        expect(executed.total).not.toBe(batch * dense.total);
      });
      x.dispose();
    }
    model.dispose();
  });
});
