// What the training step reports of routing: the step number reaches the blocks (a capacity
// warm-up's k per step), each forward pass's tokens (measured FLOPs), and, with routingStats,
// each routed block's causal-vs-top-k accuracy and recall on the step's own batches.
import * as tf from "@tensorflow/tfjs";
import { createTransformer, RoutingAgreementCounter } from "@mixdepth/transformer";
import { Mulberry32 } from "@mixdepth/core";
import { describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { AdamW, decayRule } from "./adamw.js";
import { batchTensors, randomBatch, type Batch } from "./batcher.js";
import { trainableWeights } from "./grads.js";
import { trainStep, type TrainStepSettings } from "./train-step.js";

const data = Int32Array.from({ length: 400 }, (_, i) => (i * 7 + (i % 5)) % 16);
const base = { vocabSize: 16, dModel: 8, nHeads: 2, nLayers: 3, contextLength: 8 } as const;
const settings: TrainStepSettings = { batchSize: 2, seqLen: 8, gradAccum: 2, gradClip: 1, lr: 1e-2, minLr: 1e-3, warmupSteps: 0, steps: 4 };
const newOpt = (params: Map<string, tf.Variable>) => new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });

describe("trainStep's routing reports", () => {
  it("the step number sets the warm-up capacity: k per routed block falls from S on the cosine", async () => {
    await expectNoLeaks(async () => {
      const model = createTransformer({ ...base, routing: { blocks: [1], capacity: 0.25, capacityWarmup: { steps: 2 } } }, { seed: 1 });
      const params = trainableWeights(model);
      const opt = newOpt(params);
      const rng = new Mulberry32(2);
      const ks: number[][] = [];
      for (let step = 0; step < 3; step++) {
        const r = await trainStep({ model, params, optimizer: opt, nextBatch: () => randomBatch(data, 2, 8, rng) }, settings, step);
        expect(r.passes.map((p) => p.rows)).toEqual([2, 2]); // one pass per micro-batch
        ks.push((r.passes[0] as { blockTokens: number[] }).blockTokens);
        expect(r.routing).toBeUndefined(); // off by default
      }
      // c(0) = 1 -> 8; c(1) = 0.25 + 0.75 * 0.5 = 0.625 -> 5; from step 2 the target 0.25 -> 2.
      expect(ks).toEqual([[8, 8, 8], [8, 5, 8], [8, 2, 8]]);
      opt.dispose();
      model.dispose();
    });
  });

  it("routingStats: per routed block, the causal rule's accuracy and top-k recall pooled over the step's micro-batches", async () => {
    await expectNoLeaks(async () => {
      const config = { ...base, routing: { blocks: [0, 2], capacity: 0.5 } };
      const model = createTransformer(config, { seed: 4 });
      const twin = createTransformer(config, { seed: 4 }); // the same weights, counted by hand
      const params = trainableWeights(model);
      const opt = newOpt(params);
      const drawn: Batch[] = [];
      const rng = new Mulberry32(6);
      const nextBatch = () => {
        const b = randomBatch(data, 2, 8, rng);
        drawn.push(b);
        return b;
      };
      const r = await trainStep({ model, params, optimizer: opt, nextBatch }, { ...settings, routingStats: true }, 0);
      // By hand: the same counter over both micro-batches' top-k forward passes, before the update.
      const counter = new RoutingAgreementCounter();
      for (const b of drawn) {
        const { x, y } = batchTensors(b, 2, 8);
        const out = twin.forward(x, { observe: counter.observe });
        tf.dispose([x, y, out.logits, ...Object.values(out.auxLosses)]);
      }
      const want = counter.blocks();
      expect(want.map((a) => a.layer)).toEqual([0, 2]);
      expect(want.every((a) => a.tp + a.fp + a.fn + a.tn === 2 * 2 * 8)).toBe(true); // 2 micro-batches x 2 rows x 8 tokens
      expect(r.routing).toEqual(want);
      opt.dispose();
      model.dispose();
      twin.dispose();
    });
  });
});
