// Data parallelism as a library user meets it: trainStep with DataParallel.step as its
// lossAndGrads, 2 ranks against 1, the same batches: equal losses (float noise), equal
// weights after the steps, every worker gone after close(). The step number and routingStats
// reach the workers: under a capacity warm-up every rank routes at the step's capacity, and the
// routing counts pooled over ranks equal one rank's. Needs the built worker (pnpm build).
import * as tf from "@tensorflow/tfjs";
import { Mulberry32 } from "@mixdepth/core";
import { createTransformer } from "@mixdepth/transformer";
import { describe, expect, it } from "vitest";
import { AdamW, decayRule } from "./adamw.js";
import { randomBatch } from "./batcher.js";
import { DataParallel, liveWorkers, resolveRanks, splitRows } from "./data-parallel.js";
import { trainableWeights } from "./grads.js";
import { trainStep, type TrainStepSettings } from "./train-step.js";

const data = Int32Array.from({ length: 600 }, (_, i) => (i * 11 + (i % 7)) % 32);
const config = { vocabSize: 32, dModel: 16, nHeads: 2, nLayers: 2, contextLength: 8, routing: { blocks: [1], capacity: 0.5, capacityWarmup: { steps: 2 } } };
const settings: TrainStepSettings = { batchSize: 4, seqLen: 8, gradAccum: 2, gradClip: 1, lr: 1e-2, minLr: 1e-3, warmupSteps: 1, steps: 3, routingStats: true };

async function run(ranks: number) {
  const model = createTransformer(config, { seed: 2 });
  const params = trainableWeights(model);
  const optimizer = new AdamW(params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, decay: decayRule({ decayEmbeddings: false, decayNormsAndBiases: false }) });
  const rng = new Mulberry32(4);
  const dp = await DataParallel.start(model, params, { ranks, config, seed: 2, backend: tf.getBackend() });
  const losses: number[] = [];
  const passes: { rows: number; blockTokens: number[] }[][] = [];
  const routing: unknown[] = [];
  const started = dp.ranks;
  try {
    for (let step = 0; step < settings.steps; step++) {
      const nextBatch = () => randomBatch(data, settings.batchSize, settings.seqLen, rng);
      const r = await trainStep({ model, params, optimizer, nextBatch, lossAndGrads: (b, rows, s, o) => dp.step(b, rows, s, o) }, settings, step);
      losses.push(r.loss);
      passes.push(r.passes);
      routing.push(r.routing?.map(({ layer, tp, fp, fn, tn }) => ({ layer, tp, fp, fn, tn })));
    }
  } finally {
    await dp.close();
  }
  const weights = [...params.values()].map((v) => Array.from(v.dataSync()));
  const copies = dp.timings.copies;
  optimizer.dispose();
  model.dispose();
  return { losses, weights, ranks: started, copies, passes, routing };
}

describe("DataParallel with trainStep", () => {
  it("2 ranks train as 1 rank does, and close() leaves no worker", async () => {
    const before = tf.memory().numTensors;
    const one = await run(1);
    const two = await run(2);
    expect(two.ranks).toBe(2);
    expect(two.copies).toBe(settings.steps); // the weights go to the workers once per step, not per micro-batch
    for (const [i, l] of one.losses.entries()) expect(Math.abs((two.losses[i] as number) - l) / l).toBeLessThan(1e-5);
    const diff = Math.max(...one.weights.flatMap((w, i) => w.map((x, j) => Math.abs(x - (two.weights[i]?.[j] as number)))));
    expect(diff).toBeLessThan(1e-4);
    // Per step: 2 micro-batches, 1 or 2 passes each; the warm-up's k (8, 6, then 4) on every rank.
    const ks = [8, 6, 4];
    expect(one.passes).toEqual(ks.map((k) => [0, 1].map(() => ({ rows: 4, blockTokens: [8, k] }))));
    expect(two.passes).toEqual(ks.map((k) => [0, 1, 2, 3].map(() => ({ rows: 2, blockTokens: [8, k] }))));
    expect(two.routing).toEqual(one.routing);
    expect(one.routing[0]).toEqual([expect.objectContaining({ layer: 1 })]);
    expect(liveWorkers()).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it("ranks: capped at the batch size, 1 on the native backend; rows split into contiguous blocks", () => {
    expect(resolveRanks(8, { batchSize: 3, backend: "wasm" }).ranks).toBe(3);
    expect(resolveRanks(4, { batchSize: 8, backend: "tensorflow" }).ranks).toBe(1);
    expect(splitRows(7, 3)).toEqual([3, 2, 2]);
  });

  it('"auto" counts the free cores: cores minus the load average, said in the reason', () => {
    const auto = (cores: number, load: number | null, batchSize = 8) => resolveRanks("auto", { batchSize, backend: "wasm", machine: { cores, load } });
    expect(auto(2, 0.2)).toEqual({ ranks: 2, why: 'training.workers "auto": load 0.2 on 2 cores, 1.8 free' });
    expect(auto(2, 3.9)).toEqual({ ranks: 1, why: 'training.workers "auto": load 3.9 on 2 cores, 0.0 free: the other core is busy' });
    expect(auto(2, 0.6)).toEqual({ ranks: 1, why: 'training.workers "auto": load 0.6 on 2 cores, 1.4 free: the other core is busy' });
    expect(auto(8, 5.2)).toEqual({ ranks: 3, why: 'training.workers "auto": load 5.2 on 8 cores, 2.8 free: 5 of them busy' });
    expect(auto(8, 1.2)).toEqual({ ranks: 4, why: 'training.workers "auto": load 1.2 on 8 cores, 6.8 free (at most 4)' });
    expect(auto(4, 3.7)).toEqual({ ranks: 1, why: 'training.workers "auto": load 3.7 on 4 cores, 0.3 free: the other cores are busy' });
    expect(auto(2, null)).toEqual({ ranks: 2, why: 'training.workers "auto" = 2 cores (at most 4; no load average on this OS)' });
    expect(auto(2, 0, 1)).toEqual({ ranks: 1, why: 'training.workers "auto": load 0.0 on 2 cores, 2.0 free, capped at training.batchSize 1' });
    // An explicit count is not second-guessed by the load.
    expect(resolveRanks(2, { batchSize: 8, backend: "wasm", machine: { cores: 2, load: 9 } }).ranks).toBe(2);
    expect(resolveRanks("auto", { batchSize: 8, backend: "tensorflow", machine: { cores: 2, load: 0 } }).ranks).toBe(1);
  });
});
