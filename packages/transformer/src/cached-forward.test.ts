// Incremental decoding through Transformer.forward (docs/method.md section 4): a prompt prefilled
// into a KV cache, then one token per call, gives the logits of the full causal forward
// within 1e-4 on every test backend, both families, dense and MoD (threshold and predictor);
// routed blocks cache only the tokens they processed. Also: host readbacks per training step
// and per decode step, counted (the numbers the README states).
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, maxAbsDiff, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import type { ModelConfig, RoutingConfig } from "@mixdepth/core";
import { createTransformer, type Transformer } from "./index.js";
import { countReadbacks, redrawWeights } from "../test/helpers.js";

type Family = "gpt2" | "llama";
const V = 13;
const CONTEXT = 24;
const MOD: RoutingConfig = { blocks: "every-other", capacity: 0.25 };

function model(family: Family, routing: RoutingConfig | null, seed = 3, extra: Partial<ModelConfig> = {}): Transformer {
  const m = createTransformer({ vocabSize: V, dModel: 8, nHeads: 2, nLayers: 4, contextLength: CONTEXT, family, routing: routing ?? { blocks: "none" }, ...extra }, { seed });
  redrawWeights(m, seed);
  return m;
}

function ids(n: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return (a >>> 8) % V;
  });
}

const rowsTensor = (rows: number[][]) => tf.tensor2d(rows, [rows.length, rows[0]!.length], "int32");

/**
 * Prefills `promptLength` tokens of `rows` into a fresh cache, then feeds the rest one token
 * per call. Returns the logits of every position [B, S, V] and the cache's stored positions.
 */
function decode(m: Transformer, rows: number[][], promptLength: number, causal?: "threshold" | "predictor") {
  const cache = m.createCache();
  const parts: tf.Tensor3D[] = [];
  const opts = { routing: "causal" as const, cache, ...(causal ? { causal } : {}) };
  for (let t = 0; t < rows[0]!.length; t = t === 0 ? promptLength : t + 1) {
    const n = t === 0 ? promptLength : 1;
    const x = rowsTensor(rows.map((r) => r.slice(t, t + n)));
    parts.push(m.forward(x, opts).logits);
    x.dispose();
  }
  const logits = tf.concat(parts, 1);
  tf.dispose(parts);
  const stored = Array.from({ length: m.config.nLayers }, (_, layer) => rows.map((_, b) => cache.positions(layer, b)));
  const position = cache.position;
  cache.dispose();
  return { logits, stored, position };
}

describe.each(testBackends())("cached decoding through Transformer.forward on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  const cases: [string, Family, RoutingConfig | null, "threshold" | "predictor" | undefined][] = [
    ["gpt2 dense", "gpt2", null, undefined],
    ["gpt2 MoD, predictor", "gpt2", MOD, "predictor"],
    ["gpt2 MoD, threshold", "gpt2", MOD, "threshold"],
    ["llama dense", "llama", null, undefined],
    ["llama MoD, predictor", "llama", MOD, "predictor"],
    ["llama MoD, threshold", "llama", MOD, "threshold"],
  ];

  it.each(cases)("%s: full context, prompt then one token per call, equals the causal forward within 1e-4", async (name, family, routing, causal) => {
    await expectNoLeaks(() => {
      const m = model(family, routing);
      const rows = [ids(CONTEXT, 7), ids(CONTEXT, 8)];
      const x = rowsTensor(rows);
      const ref = m.forward(x, { routing: "causal", trace: true, ...(causal ? { causal } : {}) });
      let routed = 0;
      let skipped = 0;
      let worst = 0;
      // One sequence per cache, and both in one batched cache (rows route different tokens:
      // the shorter rows carry padding slots).
      for (const batch of [[0], [1], [0, 1]]) {
        for (const promptLength of [1, 5, CONTEXT]) {
          const got = decode(m, batch.map((b) => rows[b]!), promptLength, causal);
          const want = tf.tidy(() => tf.gather(ref.logits, batch, 0));
          const diff = maxAbsDiff(got.logits, want);
          expect(diff, `rows ${batch}, prompt ${promptLength}`).toBeLessThan(1e-4);
          worst = Math.max(worst, diff);
          expect(got.position).toBe(CONTEXT);
          m.config.layers.forEach((l) => {
            batch.forEach((b, j) => {
              const stored = got.stored[l.index]![j]!;
              if (!l.routed) return expect(stored).toEqual(Array.from({ length: CONTEXT }, (_, i) => i));
              // A routed block's cache holds exactly the tokens it processed.
              const trace = ref.traces.find((t) => t.layer === l.index)!;
              expect(stored).toEqual(trace.processed[b]);
              routed += stored.length;
              skipped += CONTEXT - stored.length;
            });
          });
          tf.dispose([got.logits, want]);
        }
      }
      console.log(`${backend} ${name}: max |cached - full causal| = ${worst.toExponential(2)}; routed-block tokens cached ${routed}, skipped ${skipped}`);
      if (routing) {
        expect(routed).toBeGreaterThan(0); // otherwise skipping is not exercised
        expect(skipped).toBeGreaterThan(0);
      }
      tf.dispose([x, ref.logits, ...Object.values(ref.auxLosses)]);
      m.dispose();
    });
  });

  it("prompts shorter than k (capacity 0.5 of 24: k = 12 in top-k mode) decode; logits 'last' is the last row", async () => {
    await expectNoLeaks(() => {
      const m = model("gpt2", { blocks: "all", capacity: 0.5 });
      for (const n of [1, 2, 3]) {
        const prompt = ids(n, n);
        const x = rowsTensor([prompt]);
        const full = m.forward(x, { routing: "causal" });
        const cache = m.createCache();
        const out = m.forward(x, { routing: "causal", cache, logits: "last" });
        expect(out.logits.shape).toEqual([1, 1, V]);
        const want = tf.slice(full.logits, [0, n - 1, 0], [1, 1, V]);
        expect(maxAbsDiff(out.logits, want)).toBeLessThan(1e-4);
        const step = rowsTensor([[1]]);
        const next = m.forward(step, { routing: "causal", cache, trace: true });
        expect(next.traces).toHaveLength(4);
        expect(cache.position).toBe(n + 1);
        tf.dispose([x, full.logits, out.logits, want, step, next.logits]);
        cache.dispose();
      }
      m.dispose();
    });
  });

  it("refuses top-k routing with a cache, a context overflow and a batch change, leaving the cache as it was", async () => {
    await expectNoLeaks(() => {
      const m = model("gpt2", MOD);
      const cache = m.createCache();
      const x = rowsTensor([ids(20, 1)]);
      expect(() => m.forward(x, { cache })).toThrow(/KV cache needs routing: "causal"/);
      m.forward(x, { routing: "causal", cache }).logits.dispose();
      const lengths = cache.lengths();
      const five = rowsTensor([ids(5, 2)]);
      expect(() => m.forward(five, { routing: "causal", cache })).toThrow(/5 new tokens after the 20 cached ones exceed contextLength 24/);
      const two = rowsTensor([[1], [2]]);
      expect(() => m.forward(two, { routing: "causal", cache })).toThrow(/cache holds 1 sequences, tokens have 2 rows/);
      expect(cache.position).toBe(20);
      expect(cache.lengths()).toEqual(lengths);
      tf.dispose([x, five, two]);
      cache.dispose();
      expect(() => cache.position).toThrow(/used after dispose/);
      m.dispose();
    });
  });
});

describe("host readbacks (cpu)", () => {
  beforeAll(() => useBackend("cpu"));

  it("one per routed block in a training step and in a decode step, none for dense blocks", async () => {
    const m = model("gpt2", { blocks: "every-other", capacity: 0.25 }, 5, { nLayers: 6 }); // 3 routed blocks
    const routedBlocks = m.config.routing.blocks.length;
    expect(routedBlocks).toBe(3);
    const x = rowsTensor([ids(16, 1), ids(16, 2)]);
    const y = rowsTensor([ids(16, 3), ids(16, 4)]);
    const train = await countReadbacks(() => {
      const { value, grads } = tf.variableGrads(() => m.loss(x, y).total);
      tf.dispose([value, ...Object.values(grads)]);
    });
    const cache = m.createCache();
    m.forward(x.slice([0, 0], [1, 8]) as tf.Tensor2D, { routing: "causal", cache, logits: "last" }).logits.dispose();
    const step = rowsTensor([[3]]);
    const decodeStep = await countReadbacks(() => m.forward(step, { routing: "causal", cache, logits: "last" }).logits.dispose());
    const dense = model("gpt2", null);
    const denseCache = dense.createCache();
    const denseStep = await countReadbacks(() => dense.forward(step, { cache: denseCache, logits: "last" }).logits.dispose());
    console.log(`readbacks: training step ${train.readbacks}, decode step ${decodeStep.readbacks} (${routedBlocks} routed blocks of 6); dense decode step ${denseStep.readbacks}`);
    expect(train.readbacks).toBe(routedBlocks);
    expect(decodeStep.readbacks).toBe(routedBlocks);
    expect(denseStep.readbacks).toBe(0);
    // The counter is not vacuous: a plain dataSync counts.
    expect((await countReadbacks(() => step.dataSync())).readbacks).toBe(1);
    tf.dispose([x, y, step]);
    cache.dispose();
    denseCache.dispose();
    m.dispose();
    dense.dispose();
  });
});
